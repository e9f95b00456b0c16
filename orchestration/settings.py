"""Django settings, read from the environment (see the README's configuration table)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from orchestration.env import (
    env_bool,
    env_file,
    env_float,
    env_int,
    env_list,
    env_proxy_header,
    env_str,
    env_url,
    parse_database_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
# Made by `python -m orchestration.var_dir` (the run and test commands call it): settings
# only read, so importing them writes nothing.
VAR_DIR = Path(env_str("ORCHESTRATION_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    configured = env_str("SECRET_KEY", "")
    if configured:
        return configured
    key_file = VAR_DIR / "secret_key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        raise ImproperlyConfigured(
            f"SECRET_KEY is not set and {key_file} does not exist: set SECRET_KEY, or create "
            "the state folder once with `python -m orchestration.var_dir` (scripts/run does)"
        ) from None


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# TLS in production. Off by default so `make run` works over plain http://127.0.0.1;
# behind a proxy that terminates TLS, set SECURE_PROXY_SSL_HEADER to the header it adds.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Probes and scrapers on the host talk plain HTTP to the web process.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_PROXY_SSL_HEADER = env_proxy_header("SECURE_PROXY_SSL_HEADER")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "orchestration.accounts",
    "orchestration.clusters",
    "orchestration.nodepools",
    "orchestration.catalog",
    "orchestration.deployments",
    "orchestration.portal",
    "orchestration.grpc_api",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "orchestration.portal.csp.ContentSecurityPolicyMiddleware",
    "orchestration.portal.static_files.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "orchestration.accounts.spaces.SpaceMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "orchestration.urls"
WSGI_APPLICATION = "orchestration.wsgi.application"
ASGI_APPLICATION = "orchestration.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "orchestration.accounts.spaces.spaces",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(
        "DATABASE_URL",
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        base_dir=BASE_DIR,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Web, worker and beat share the file: wait for the writer instead of failing. WAL
    # lets readers go on while one writes, and with synchronous=NORMAL a commit appends
    # to the log without an fsync (a power cut may lose the last commits, never the
    # file's integrity): a cold start commits a dozen times on its way to an answer,
    # each of which cost several fsyncs in the rollback journal.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Failed logins (portal and admin) are counted by django-axes in the database, so every
# web process sees them: after LOGIN_FAILURE_LIMIT failures for one username, or from one
# client address (REMOTE_ADDR), the next attempts are refused with 429 until
# LOGIN_LOCKOUT_MINUTES have passed since the last failure; a success resets the username.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_LOCKOUT_MINUTES", 15.0, minimum=0.1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "orchestration.accounts.lockout.locked_out"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Celery. The embedded default is the Redis server that the run command starts on a unix
# socket under VAR_DIR (scripts/run): a real broker, so concurrent producers and consumers
# cannot lose or corrupt messages (kombu's file-system transport did: celery/kombu#1551).
# Set CELERY_BROKER_URL to Redis (redis://host:6379/0) or RabbitMQ (amqp://...) to use
# a broker of your own.
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis" / "redis.sock"
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL",
    f"redis+socket://{EMBEDDED_REDIS_SOCKET}",
    schemes=("redis+socket", "redis", "rediss", "amqp", "amqps", "filesystem", "memory"),
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Still selectable, for comparison only: it races under concurrent use (see above).
    _broker_dir = VAR_DIR / "broker"  # its folders: orchestration.var_dir
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Without this the transport writes its exchange files into the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE

# How often the periodic tasks run (seconds); the schedule itself lives in celery.py.
NODE_PROBE_INTERVAL = env_float("NODE_PROBE_INTERVAL", 30.0, minimum=1.0)
RECONCILE_INTERVAL = env_float("RECONCILE_INTERVAL", 15.0, minimum=1.0)
AUTOSCALE_INTERVAL = env_float("AUTOSCALE_INTERVAL", 5.0, minimum=0.5)
TRAFFIC_FLUSH_SECONDS = env_float("TRAFFIC_FLUSH_SECONDS", 5.0, minimum=0.1)
PRUNE_INTERVAL = env_float("PRUNE_INTERVAL", 600.0, minimum=10.0)

# GET /metrics (Prometheus): open to this host's own clients, to others only with the
# bearer token METRICS_TOKEN (none set: refused), or off entirely.
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 16 characters long.")

# Docker: the engine that backs the built-in `shared` nodepool, and how replicas are reached.
DOCKER_URL = env_url(
    "DOCKER_URL", "unix:///var/run/docker.sock", schemes=("unix", "tcp", "ssh", "http", "https")
)
# Labels this installation's containers, so installs sharing an engine keep apart.
INSTANCE_ID = env_str(
    "ORCHESTRATION_INSTANCE",
    hashlib.sha256(
        f"{DATABASES['default'].get('HOST', '')}/{DATABASES['default']['NAME']}".encode()
    ).hexdigest()[:12],
)
# Client TLS for tcp:// engines (PEM files on this host); empty: plain TCP.
DOCKER_TLS_CA_CERT = env_file("DOCKER_TLS_CA_CERT")
DOCKER_TLS_CLIENT_CERT = env_file("DOCKER_TLS_CLIENT_CERT")
DOCKER_TLS_CLIENT_KEY = env_file("DOCKER_TLS_CLIENT_KEY")
if bool(DOCKER_TLS_CLIENT_CERT) != bool(DOCKER_TLS_CLIENT_KEY):
    raise ImproperlyConfigured(
        "DOCKER_TLS_CLIENT_CERT and DOCKER_TLS_CLIENT_KEY must be set together."
    )
SHARED_NODE_ADDRESS = env_str("SHARED_NODE_ADDRESS", "127.0.0.1")
BASE_IMAGE = env_str("BASE_IMAGE", "orchestration/base:bookworm-py311")
REPLICA_READY_TIMEOUT = env_float("REPLICA_READY_TIMEOUT", 120.0, minimum=1.0)
REPLICA_DRAIN_GRACE = env_float("REPLICA_DRAIN_GRACE", 30.0, minimum=0.0)
# CPU limit of a starting replica until it answers ready, when above its own (0: none).
REPLICA_START_CPU = env_float("REPLICA_START_CPU", 1.0, minimum=0.0)
REPLICA_DEFAULT_CPU = env_float("REPLICA_DEFAULT_CPU", 1.0, minimum=0.01)
REPLICA_DEFAULT_MEMORY = env_str("REPLICA_DEFAULT_MEMORY", "512Mi")
# Reach a replica on an engine of this host at its container address rather than
# through Docker's userland proxy on the published port (a copy per byte, in a process
# that competes with the router for the cores), when that address answers.
ROUTE_TO_CONTAINER_ADDRESS = env_bool("ROUTE_TO_CONTAINER_ADDRESS", True)

# Upload limits: an archive over these is refused before anything is stored.
UPLOAD_MAX_FILES = env_int("UPLOAD_MAX_FILES", 1000, minimum=1)
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 500 * 1024 * 1024, minimum=1)
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Prediction.
PREDICT_TIMEOUT = env_float("PREDICT_TIMEOUT", 60.0, minimum=0.1)
COLD_START_TIMEOUT = env_float("COLD_START_TIMEOUT", 180.0, minimum=0.0)
PREDICT_KEY_CACHE_SECONDS = env_float("PREDICT_KEY_CACHE_SECONDS", 5.0, minimum=0.0)
PREDICT_MAX_BYTES = env_int("PREDICT_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)
# Image inputs (predict/images.py): the largest decoded image, and image.url fetching by
# the router, off by default since it makes this server send requests where callers say.
PREDICT_IMAGE_MAX_BYTES = env_int("PREDICT_IMAGE_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
PREDICT_IMAGE_URLS = env_bool("PREDICT_IMAGE_URLS", False)
PREDICT_IMAGE_URL_TIMEOUT = env_float("PREDICT_IMAGE_URL_TIMEOUT", 10.0, minimum=0.1)
# Private, loopback and link-local addresses stay out of reach unless this is set (tests).
PREDICT_IMAGE_URL_PRIVATE = env_bool("PREDICT_IMAGE_URL_PRIVATE", False)
REDIS_URL = env_str("REDIS_URL", "")
# Clarifai gRPC API (manage.py grpc_server): port, and TLS when both PEM paths are set.
GRPC_PORT = env_int("GRPC_PORT", 18000, minimum=1)
GRPC_TLS_CERT = env_str("GRPC_TLS_CERT", "")
GRPC_TLS_KEY = env_str("GRPC_TLS_KEY", "")
# The predict body is checked against PREDICT_MAX_BYTES (413) before Django's own limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(10 * 1024 * 1024, PREDICT_MAX_BYTES + 1024)

# Portal lists: rows per page.
PORTAL_PAGE_SIZE = env_int("PORTAL_PAGE_SIZE", 25, minimum=1)
# Management API lists: items per page when ?limit= is absent, and the largest ?limit=.
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 100, minimum=1)
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", max(1000, API_PAGE_SIZE), minimum=API_PAGE_SIZE)

# Rate limits per access key (token bucket: requests per second on average, `burst` at
# once; 0 turns a limit off). Shared through Redis when REDIS_URL is set. See ratelimit.py.
PREDICT_RATE_LIMIT = env_float("PREDICT_RATE_LIMIT", 500.0, minimum=0.0)
PREDICT_RATE_BURST = env_int("PREDICT_RATE_BURST", max(1, int(PREDICT_RATE_LIMIT * 2)), minimum=1)
API_RATE_LIMIT = env_float("API_RATE_LIMIT", 50.0, minimum=0.0)
API_RATE_BURST = env_int("API_RATE_BURST", max(1, int(API_RATE_LIMIT * 2)), minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per proxied request would cost more than the proxying.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
