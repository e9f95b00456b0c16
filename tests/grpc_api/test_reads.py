"""The Get/List RPCs and the unsupported ones, over a live server (no Docker needed)."""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2 as codes

ME = resources_pb2.UserAppIDSet(user_id="me", app_id="main")


@pytest.fixture
def objects(owner, make_cluster, make_nodepool, make_model, make_deployment):
    pool = make_nodepool(make_cluster(owner, "east"), "cpu")
    model, version = make_model(owner, "wordstats")
    dep = make_deployment(owner, model, version, pool, slug="acc-wordstats")
    return pool, model, version, dep


def _md(key):
    return (("authorization", f"Key {key}"),)


def _reads(version, who=ME):
    return [
        ("GetUser", service_pb2.GetUserRequest(user_app_id=who)),
        ("GetModel", service_pb2.GetModelRequest(user_app_id=who, model_id="wordstats")),
        (
            "GetModelVersion",
            service_pb2.GetModelVersionRequest(
                user_app_id=who, model_id="wordstats", version_id=version.version_id
            ),
        ),
        ("ListModels", service_pb2.ListModelsRequest(user_app_id=who)),
        (
            "GetDeployment",
            service_pb2.GetDeploymentRequest(user_app_id=who, deployment_id="acc-wordstats"),
        ),
        ("ListDeployments", service_pb2.ListDeploymentsRequest(user_app_id=who)),
        (
            "GetComputeCluster",
            service_pb2.GetComputeClusterRequest(user_app_id=who, compute_cluster_id="east"),
        ),
        (
            "GetNodepool",
            service_pb2.GetNodepoolRequest(
                user_app_id=who, compute_cluster_id="east", nodepool_id="cpu"
            ),
        ),
        (
            "ListNodepools",
            service_pb2.ListNodepoolsRequest(user_app_id=who, compute_cluster_id="east"),
        ),
    ]


def test_owner_reads_every_object(stub, owner_key, objects):
    pool, model, version, dep = objects
    for name, request in _reads(version):
        response = getattr(stub, name)(request, metadata=_md(owner_key))
        assert response.status.code == codes.SUCCESS, (name, response.status)
    got = stub.GetDeployment(_reads(version)[4][1], metadata=_md(owner_key)).deployment
    assert got.id == "acc-wordstats"
    assert got.worker.model.id == "wordstats"
    assert got.nodepools[0].compute_cluster.id == "east"
    model_msg = stub.GetModel(_reads(version)[1][1], metadata=_md(owner_key)).model
    assert model_msg.user_id == "owner" and model_msg.model_version.id == version.version_id
    user = stub.GetUser(_reads(version)[0][1], metadata=_md(owner_key)).user
    assert user.id == "owner"


def test_other_user_sees_not_found(stub, other_key, objects):
    pool, model, version, dep = objects
    for name, request in _reads(version):
        response = getattr(stub, name)(request, metadata=_md(other_key))
        if name in ("GetUser",):
            assert response.user.id == "other"
        elif name in ("ListModels", "ListDeployments"):
            assert response.status.code == codes.SUCCESS
            assert len(getattr(response, name[4:].lower())) == 0, name
        else:
            assert response.status.code in (
                codes.MODEL_DOES_NOT_EXIST,
                codes.DEPLOYMENT_DOES_NOT_EXIST,
                codes.COMPUTE_CLUSTER_DOES_NOT_EXIST,
                codes.NODEPOOL_DOES_NOT_EXIST,
            ), (name, response.status)


def test_naming_another_user_is_not_found(stub, owner_key, other_user, objects):
    them = resources_pb2.UserAppIDSet(user_id="other", app_id="main")
    response = stub.GetModel(
        service_pb2.GetModelRequest(user_app_id=them, model_id="wordstats"),
        metadata=_md(owner_key),
    )
    assert response.status.code == codes.MODEL_DOES_NOT_EXIST


@pytest.mark.parametrize("key", ["", "Key nope", "Basic abc"])
def test_visitor_and_bad_keys(stub, objects, key):
    pool, model, version, dep = objects
    md = (("authorization", key),) if key else ()
    for name, request in _reads(version):
        response = getattr(stub, name)(request, metadata=md)
        assert response.status.code in (codes.CONN_KEY_INVALID, codes.CONN_KEY_NOT_FOUND), name
    response = stub.PostModelOutputs(
        service_pb2.PostModelOutputsRequest(
            user_app_id=ME,
            model_id="wordstats",
            inputs=[resources_pb2.Input(data=resources_pb2.Data(text={"raw": "hi"}))],
        ),
        metadata=md,
    )
    assert response.status.code in (codes.CONN_KEY_INVALID, codes.CONN_KEY_NOT_FOUND)


def test_unknown_model_predict(stub, owner_key, objects):
    response = stub.PostModelOutputs(
        service_pb2.PostModelOutputsRequest(
            user_app_id=ME,
            model_id="nope",
            inputs=[resources_pb2.Input(data=resources_pb2.Data(text={"raw": "hi"}))],
        ),
        metadata=_md(owner_key),
    )
    assert response.status.code == codes.MODEL_DOES_NOT_EXIST


def test_unsupported_rpcs_answer_not_implemented(stub, owner_key):
    response = stub.ListApps(service_pb2.ListAppsRequest(), metadata=_md(owner_key), timeout=5)
    assert response.status.code == codes.NOT_IMPLEMENTED
    response = stub.PostInputs(service_pb2.PostInputsRequest(), metadata=_md(owner_key), timeout=5)
    assert response.status.code == codes.NOT_IMPLEMENTED


def test_bidirectional_streams_are_not_served(stub, owner_key, objects):
    request = service_pb2.PostModelOutputsRequest(user_app_id=ME, model_id="wordstats")
    answers = list(stub.StreamModelOutputs(iter([request]), metadata=_md(owner_key), timeout=5))
    assert len(answers) == 1 and answers[0].status.code == codes.NOT_IMPLEMENTED
    assert "GenerateModelOutputs" in answers[0].status.details


def test_generate_checks_key_owner_and_body_first(stub, owner_key, other_key, objects):
    """Before any model runs: the key, the owner rules and the body, as for a prediction."""
    request = service_pb2.PostModelOutputsRequest(
        user_app_id=ME,
        model_id="wordstats",
        inputs=[resources_pb2.Input(data=resources_pb2.Data(text={"raw": "hi"}))],
    )
    bad = list(stub.GenerateModelOutputs(request, metadata=_md("orc_nope"), timeout=5))
    assert len(bad) == 1
    assert bad[0].status.code in (codes.CONN_KEY_INVALID, codes.CONN_KEY_NOT_FOUND)
    theirs = list(stub.GenerateModelOutputs(request, metadata=_md(other_key), timeout=5))
    assert len(theirs) == 1 and theirs[0].status.code == codes.MODEL_DOES_NOT_EXIST
    empty = service_pb2.PostModelOutputsRequest(user_app_id=ME, model_id="wordstats")
    answers = list(stub.GenerateModelOutputs(empty, metadata=_md(owner_key), timeout=5))
    assert len(answers) == 1 and answers[0].status.code == codes.CONN_INVALID_REQUEST
