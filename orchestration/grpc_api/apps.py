from django.apps import AppConfig


class GrpcApiConfig(AppConfig):
    name = "orchestration.grpc_api"
    label = "grpc_api"
    verbose_name = "gRPC API"
