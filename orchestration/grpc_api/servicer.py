"""The V2 servicer: predict and generate through the HTTP path's handlers, reads through
lookups.

Every RPC the portal does not serve answers NOT_IMPLEMENTED in its own response type
(generated over the service descriptor), never gRPC's UNIMPLEMENTED or a hang.
"""

from __future__ import annotations

import logging

from clarifai_grpc.grpc.api import service_pb2, service_pb2_grpc
from google.protobuf import symbol_database

from orchestration.accounts.access import Perm
from orchestration.predict import resolve, streaming, views

from . import convert, lookups, statuses

log = logging.getLogger(__name__)
_V2 = service_pb2.DESCRIPTOR.services_by_name["V2"]


def _authorization(context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key.lower() == "authorization":
            return value
    return ""


class _NoStream(Exception):
    def __init__(self, model_id: str):
        self.model_id = model_id


class V2(service_pb2_grpc.V2Servicer):
    async def PostModelOutputs(self, request, context):
        where = convert.predict_where(request)
        _status, body, _headers = await views.handle(
            _authorization(context), convert.predict_body(request), transport="grpc", **where
        )
        return convert.multi_output(body)

    async def GenerateModelOutputs(self, request, context):
        """The model's generate() chunks as a server stream, one MultiOutputResponse each.

        A call the client cancels closes the responses, which stops the model."""
        where = convert.predict_where(request)
        _status, error, responses = await streaming.open_generation(
            _authorization(context), convert.predict_body(request), transport="grpc", **where
        )
        if responses is None:
            yield convert.multi_output(error)
            return
        try:
            async for body in responses:
                yield convert.multi_output(body)
        finally:
            await responses.aclose()

    async def StreamModelOutputs(self, request_iterator, context):
        async for request in request_iterator:
            yield await self._no_stream(request, context, "StreamModelOutputs")
            return

    async def _no_stream(self, request, context, method: str):
        """A bidirectional stream is not served: the same key and model checks as a read,
        then a status naming the model and the RPCs that do serve it."""

        async def fill(caller, response):
            found = await lookups.model(caller.user_id, request.model_id, request.version_id)
            raise _NoStream(found.id)

        return await self._read(
            service_pb2.MultiOutputResponse,
            context,
            request.user_app_id,
            statuses.MODEL_DOES_NOT_EXIST,
            fill,
        )

    async def _read(self, response_type, context, user_app_id, missing, fill):
        """Authenticate, run `fill(caller, response)`, map errors to Clarifai statuses."""
        response = response_type()
        try:
            caller = await resolve.caller_from_key(_authorization(context))
            await views.check_rate(caller)
            if user_app_id is not None:
                # Reads act in the space user_id names: the key's user or an organization.
                caller = await resolve.acting_caller(caller, user_app_id.user_id, Perm.VIEW)
                if caller is None:
                    raise lookups.NotFound("Not found")
            await fill(caller, response)
            response.status.CopyFrom(statuses.ok())
        except resolve.PredictError as exc:
            response.status.CopyFrom(statuses.status(exc.code, exc.description, exc.details))
        except lookups.NotFound as exc:
            response.status.CopyFrom(statuses.status(missing, "Resource does not exist", str(exc)))
        except _NoStream as exc:
            response.status.CopyFrom(statuses.no_stream(exc.model_id))
        except Exception:
            log.exception("gRPC read failed")
            response.status.CopyFrom(statuses.status(statuses.FAILURE, "Internal error"))
        return response

    async def GetUser(self, request, context):
        async def fill(caller, response):
            if request.user_app_id.user_id not in ("", "me", caller.username):
                raise lookups.NotFound(request.user_app_id.user_id)
            response.user.CopyFrom(await lookups.user(caller.user_id))

        return await self._read(
            service_pb2.SingleUserResponse,
            context,
            None,  # the key's own user, whatever its scope: the SDK asks who "me" is
            statuses.USER_DOES_NOT_EXIST,
            fill,
        )

    async def GetModel(self, request, context):
        async def fill(caller, response):
            response.model.CopyFrom(
                await lookups.model(caller.user_id, request.model_id, request.version_id)
            )

        return await self._read(
            service_pb2.SingleModelResponse,
            context,
            request.user_app_id,
            statuses.MODEL_DOES_NOT_EXIST,
            fill,
        )

    async def GetModelVersion(self, request, context):
        async def fill(caller, response):
            response.model_version.CopyFrom(
                await lookups.model_version(caller.user_id, request.model_id, request.version_id)
            )

        return await self._read(
            service_pb2.SingleModelVersionResponse,
            context,
            request.user_app_id,
            statuses.MODEL_DOES_NOT_EXIST,
            fill,
        )

    async def ListModels(self, request, context):
        async def fill(caller, response):
            response.models.extend(await lookups.models(caller.user_id))

        return await self._read(
            service_pb2.MultiModelResponse,
            context,
            request.user_app_id,
            statuses.MODEL_DOES_NOT_EXIST,
            fill,
        )

    async def GetDeployment(self, request, context):
        async def fill(caller, response):
            response.deployment.CopyFrom(
                await lookups.deployment(caller.user_id, request.deployment_id)
            )

        return await self._read(
            service_pb2.SingleDeploymentResponse,
            context,
            request.user_app_id,
            statuses.DEPLOYMENT_DOES_NOT_EXIST,
            fill,
        )

    async def ListDeployments(self, request, context):
        async def fill(caller, response):
            response.deployments.extend(
                await lookups.deployments(
                    caller.user_id, request.nodepool_id, request.compute_cluster_id
                )
            )

        return await self._read(
            service_pb2.MultiDeploymentResponse,
            context,
            request.user_app_id,
            statuses.DEPLOYMENT_DOES_NOT_EXIST,
            fill,
        )

    async def GetComputeCluster(self, request, context):
        async def fill(caller, response):
            response.compute_cluster.CopyFrom(
                await lookups.compute_cluster(caller.user_id, request.compute_cluster_id)
            )

        return await self._read(
            service_pb2.SingleComputeClusterResponse,
            context,
            request.user_app_id,
            statuses.COMPUTE_CLUSTER_DOES_NOT_EXIST,
            fill,
        )

    async def GetNodepool(self, request, context):
        async def fill(caller, response):
            response.nodepool.CopyFrom(
                await lookups.nodepool(
                    caller.user_id, request.compute_cluster_id, request.nodepool_id
                )
            )

        return await self._read(
            service_pb2.SingleNodepoolResponse,
            context,
            request.user_app_id,
            statuses.NODEPOOL_DOES_NOT_EXIST,
            fill,
        )

    async def ListNodepools(self, request, context):
        async def fill(caller, response):
            response.nodepools.extend(
                await lookups.nodepools(caller.user_id, request.compute_cluster_id)
            )

        return await self._read(
            service_pb2.MultiNodepoolResponse,
            context,
            request.user_app_id,
            statuses.COMPUTE_CLUSTER_DOES_NOT_EXIST,
            fill,
        )


def _message_class(descriptor):
    return symbol_database.Default().GetSymbol(descriptor.full_name)


def _unsupported(method) -> object:
    """An RPC that answers NOT_IMPLEMENTED in its own response type (streaming or not)."""
    response_type = _message_class(method.output_type)
    name = method.name

    def answer():
        response = response_type()
        if "status" in response_type.DESCRIPTOR.fields_by_name:
            response.status.CopyFrom(statuses.not_supported(name))
        return response

    if method.server_streaming:

        async def streaming(self, request, context):
            yield answer()

        streaming.__name__ = name
        return streaming

    async def unary(self, request, context):
        return answer()

    unary.__name__ = name
    return unary


for _method in _V2.methods:
    if _method.name not in V2.__dict__:
        setattr(V2, _method.name, _unsupported(_method))
