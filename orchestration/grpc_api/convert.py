"""Protobuf <-> the HTTP path's JSON, and the portal's objects as Clarifai resources."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from google.protobuf import json_format

from orchestration import jsonsafe

# Clarifai scopes models by user and app; this portal by user only, under one app name.
APP_ID = "main"


def predict_where(request: service_pb2.PostModelOutputsRequest) -> dict:
    """The predict handler's URL arguments (routes.py) for a gRPC request."""
    user_id = request.user_app_id.user_id or None
    return {
        "user_id": user_id,
        "model_slug": request.model_id or None,
        "version_id": request.version_id or None,
        "deployment_slug": None,
    }


def predict_body(request: service_pb2.PostModelOutputsRequest) -> bytes:
    """The request as the HTTP path's JSON body (inputs, runner_selector, model)."""
    body = json_format.MessageToDict(request, preserving_proto_field_name=True)
    for name in ("user_app_id", "model_id", "version_id"):
        body.pop(name, None)
    return jsonsafe.dumpb(body)


def multi_output(body: dict) -> service_pb2.MultiOutputResponse:
    """The HTTP path's JSON answer as a MultiOutputResponse (unknown fields dropped)."""
    response = service_pb2.MultiOutputResponse()
    try:
        json_format.ParseDict(body, response, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        response = service_pb2.MultiOutputResponse()
        status = body.get("status") or {}
        response.status.code = int(status.get("code") or 10020)
        response.status.description = str(status.get("description") or "Failure")
        response.status.details = f"answer not representable in protobuf: {exc}"
    return response


def user(obj) -> resources_pb2.User:
    return resources_pb2.User(id=obj.username, first_name=obj.first_name, last_name=obj.last_name)


def model(obj, version=None) -> resources_pb2.Model:
    message = resources_pb2.Model(
        id=obj.slug, name=obj.slug, user_id=obj.owner.username, app_id=APP_ID
    )
    if version is not None:
        message.model_version.CopyFrom(model_version(version))
    return message


def model_version(obj) -> resources_pb2.ModelVersion:
    return resources_pb2.ModelVersion(
        id=obj.version_id,
        user_id=obj.model.owner.username,
        app_id=APP_ID,
    )


def compute_cluster(obj) -> resources_pb2.ComputeCluster:
    owner = obj.owner.username if obj.owner_id else ""
    return resources_pb2.ComputeCluster(id=obj.slug, user_id=owner)


def nodepool(obj) -> resources_pb2.Nodepool:
    return resources_pb2.Nodepool(id=obj.slug, compute_cluster=compute_cluster(obj.cluster))


def deployment(obj) -> resources_pb2.Deployment:
    return resources_pb2.Deployment(
        id=obj.slug,
        user_id=obj.owner.username,
        description=obj.description,
        nodepools=[nodepool(obj.nodepool)],
        worker=resources_pb2.Worker(model=model(obj.model, obj.model_version)),
    )
