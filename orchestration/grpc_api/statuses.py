"""Clarifai status messages for gRPC answers (the codes are the HTTP path's, resolve.py)."""

from __future__ import annotations

from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2

SUCCESS = status_code_pb2.SUCCESS
NOT_IMPLEMENTED = status_code_pb2.NOT_IMPLEMENTED
MODEL_DOES_NOT_EXIST = status_code_pb2.MODEL_DOES_NOT_EXIST
DEPLOYMENT_DOES_NOT_EXIST = status_code_pb2.DEPLOYMENT_DOES_NOT_EXIST
NODEPOOL_DOES_NOT_EXIST = status_code_pb2.NODEPOOL_DOES_NOT_EXIST
COMPUTE_CLUSTER_DOES_NOT_EXIST = status_code_pb2.COMPUTE_CLUSTER_DOES_NOT_EXIST
USER_DOES_NOT_EXIST = status_code_pb2.CONN_DOES_NOT_EXIST
FAILURE = status_code_pb2.FAILURE


def status(code: int, description: str = "", details: str = "") -> status_pb2.Status:
    return status_pb2.Status(code=code, description=description or "Ok", details=details)


def ok() -> status_pb2.Status:
    return status(SUCCESS, "Ok")


def not_supported(method: str) -> status_pb2.Status:
    return status(
        NOT_IMPLEMENTED,
        "Not supported here",
        f"{method} is not served by this portal; see its README for the supported RPCs",
    )


def no_stream(model_id: str) -> status_pb2.Status:
    return status(
        NOT_IMPLEMENTED,
        "Bidirectional streaming is not supported",
        f"model {model_id}: predict with PostModelOutputs, or stream its outputs with "
        "GenerateModelOutputs",
    )
