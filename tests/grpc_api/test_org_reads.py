"""The Get/List RPCs and predict naming an organization as user_id, per role, over a live
server: members read it, a viewer may not predict, an outsider finds nothing."""

from __future__ import annotations

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2 as codes

from tests.grpc_api.test_reads import _md
from tests.grpc_api.test_reads import _reads as reads_of

ACME = resources_pb2.UserAppIDSet(user_id="acme", app_id="main")
NOT_FOUND = {
    codes.MODEL_DOES_NOT_EXIST,
    codes.DEPLOYMENT_DOES_NOT_EXIST,
    codes.COMPUTE_CLUSTER_DOES_NOT_EXIST,
    codes.NODEPOOL_DOES_NOT_EXIST,
}


@pytest.fixture
def acme(team, make_cluster, make_nodepool, make_model, make_deployment):
    pool = make_nodepool(make_cluster(team.account, "east"), "cpu")
    model, version = make_model(team.account, "wordstats")
    make_deployment(team.account, model, version, pool, slug="acc-wordstats")
    team.version = version
    return team


def _reads(version):
    """The read RPCs of tests/grpc_api/test_reads.py, naming the organization (GetUser is
    always the key's own user)."""
    return [(name, req) for name, req in reads_of(version, ACME) if name != "GetUser"]


def _predict(model_id="wordstats", who=ACME):
    return service_pb2.PostModelOutputsRequest(
        user_app_id=who,
        model_id=model_id,
        inputs=[resources_pb2.Input(data=resources_pb2.Data(text={"raw": "hi"}))],
    )


@pytest.mark.parametrize("scoped", [True, False])
@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_members_read_the_organization(stub, acme, role, scoped):
    key = acme.key(role, scoped=scoped)
    for name, request in _reads(acme.version):
        response = getattr(stub, name)(request, metadata=_md(key))
        assert response.status.code == codes.SUCCESS, (name, response.status)
    model = stub.GetModel(_reads(acme.version)[0][1], metadata=_md(key)).model
    assert model.user_id == "acme"
    listed = stub.ListDeployments(_reads(acme.version)[4][1], metadata=_md(key)).deployments
    assert [d.id for d in listed] == ["acc-wordstats"]


def test_the_outsider_finds_nothing(stub, acme):
    key = acme.key("outsider")
    for name, request in _reads(acme.version):
        response = getattr(stub, name)(request, metadata=_md(key))
        assert response.status.code in NOT_FOUND | {codes.SUCCESS}, name
        if response.status.code == codes.SUCCESS:  # a list: empty, as for a stranger
            assert len(getattr(response, name[4:].lower())) == 0, name
    assert stub.PostModelOutputs(_predict(), metadata=_md(key)).status.code in NOT_FOUND


def test_a_scoped_key_reaches_only_its_organization(stub, acme):
    key = acme.key("member")
    me = resources_pb2.UserAppIDSet(user_id="me", app_id="main")
    response = stub.ListModels(service_pb2.ListModelsRequest(user_app_id=me), metadata=_md(key))
    assert response.status.code in NOT_FOUND | {codes.MODEL_DOES_NOT_EXIST}


def test_a_viewer_may_not_predict(stub, acme):
    response = stub.PostModelOutputs(_predict(), metadata=_md(acme.key("viewer")))
    assert response.status.code == codes.CONN_INSUFFICIENT_SCOPES
    assert "cannot send predictions" in response.status.details


def test_a_member_predicts_in_the_organization(stub, acme):
    # An unknown model of the organization: resolved in acme, so "does not exist" there.
    response = stub.PostModelOutputs(_predict("nope"), metadata=_md(acme.key("member")))
    assert response.status.code == codes.MODEL_DOES_NOT_EXIST
