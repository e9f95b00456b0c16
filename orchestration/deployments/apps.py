from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "orchestration.deployments"

    def ready(self) -> None:
        from orchestration.deployments import receivers

        receivers.connect()
