from django.apps import AppConfig


class ClustersConfig(AppConfig):
    name = "orchestration.clusters"
