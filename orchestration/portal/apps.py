from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "orchestration.portal"

    def ready(self) -> None:
        # Tasks are `shared_task`s: they go to whichever Celery app is current, so every
        # Django process (web server, manage.py, tests) must create ours, or `.delay()`
        # would use Celery's default app and its default broker.
        import orchestration.celery  # noqa: F401
