# The portal's image: web, worker and beat run from it with different commands.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ORCHESTRATION_VAR_DIR=/var/lib/orchestration
WORKDIR /app
COPY pyproject.toml README.md ./
COPY orchestration ./orchestration
RUN python -m pip install --no-cache-dir . \
    && useradd --system --uid 10000 --home /app orchestration \
    && mkdir -p /var/lib/orchestration && chown orchestration /var/lib/orchestration
COPY manage.py ./
COPY templates ./templates
COPY static ./static
COPY examples ./examples
RUN DJANGO_SETTINGS_MODULE=orchestration.settings SECRET_KEY=build python manage.py collectstatic --no-input -v0
USER orchestration
EXPOSE 8000
CMD ["uvicorn", "orchestration.asgi:application", "--http", "orchestration.http_protocol:HttpProtocol", "--host", "0.0.0.0", "--port", "8000"]
