"""The management JSON API (django-ninja), mounted at /api/v1/ with its OpenAPI schema."""

from orchestration.api.main import api

__all__ = ["api"]
