"""Fuzz the predict API with malformed and odd requests: JSON errors, never a 5xx but 503."""

from __future__ import annotations

import json

import httpx
import pytest
from asgiref.sync import async_to_sync
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.accounts.models import AccessToken

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
ids = st.sampled_from(["sentiment", "dep", "nope", "me", "owner", "other", "x" * 70, "%20", "é"])
data = st.fixed_dictionaries({}, optional={"text": st.fixed_dictionaries({"raw": json_values})})
inputs = st.lists(
    st.fixed_dictionaries({"data": data | json_values}, optional={"id": json_values}), max_size=3
)
selector = (
    st.none()
    | json_values
    | st.fixed_dictionaries(
        {"deployment": st.fixed_dictionaries({"id": ids | json_values}, optional={"user_id": ids})}
    )
    | st.fixed_dictionaries(
        {
            "nodepool": st.fixed_dictionaries(
                {"id": ids, "compute_cluster": st.fixed_dictionaries({"id": ids}) | json_values}
            )
        }
    )
)


def _nested(depth: int, where: str, closed: bool) -> bytes:
    inner = "[" * depth + ("]" * depth if closed else "")
    text = {
        "top": "{inner}",
        "data": '{{"inputs": [{{"data": {{"x": {inner}}}}}]}}',
        "selector": '{{"inputs": [{{"data": {{}}}}], "runner_selector": {{"deployment": {inner}}}}}',
        "id": '{{"inputs": [{{"id": {inner}, "data": {{}}}}]}}',
    }[where]
    return text.format(inner=inner).encode()


def _non_standard(number: str, where: str) -> bytes:
    text = {
        "data": '{{"inputs": [{{"data": {{"n": {n}}}}}]}}',
        "list": '{{"inputs": [{{"data": {{"text": {{"raw": [1, {n}]}}}}}}]}}',
        "selector": '{{"inputs": [{{"data": {{}}}}], "runner_selector": {{"x": {n}}}}}',
        "top": "{n}",
    }[where]
    return text.format(n=number).encode()


# Bodies that must be a 400 once past auth: nesting beyond the limit (the parser used to
# raise RecursionError: a 500) and numbers JSON cannot carry (used to be echoed back).
hostile = st.builds(
    _nested,
    st.integers(min_value=65, max_value=3000),
    st.sampled_from(["top", "data", "selector", "id"]),
    st.booleans(),
) | st.builds(
    _non_standard,
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "123e456"]),
    st.sampled_from(["data", "list", "selector", "top"]),
)
bodies = (
    st.builds(lambda i, s: {"inputs": i, "runner_selector": s}, inputs, selector)
    | json_values
    | st.binary(max_size=50)
    | hostile
)


def _strict_json(raw: bytes):
    def refuse(name):
        raise AssertionError(f"the server wrote {name}: not JSON")

    return json.loads(raw, parse_constant=refuse)


paths = st.sampled_from(
    [
        "/v2/models/{a}/outputs",
        "/v2/models/{a}/versions/{b}/outputs",
        "/v2/users/{a}/apps/{b}/models/{c}/outputs",
        "/v2/users/{a}/apps/{b}/models/{c}/versions/{a}/outputs",
        "/v2/users/{a}/deployments/{b}/outputs",
        "/v2/{a}",
    ]
)


def _has_non_standard(body: bytes) -> bool:
    return body.startswith(b"{") and any(
        n in body for n in (b"NaN", b"Infinity", b"e400", b"e999", b"e456")
    )


@pytest.fixture
def world(owner, make_cluster, make_nodepool, make_model, make_deployment, settings, monkeypatch):
    settings.COLD_START_TIMEOUT = 0
    from orchestration.deployments import tasks

    # A valid request cold-starts the deployment: record it instead of queueing real work.
    monkeypatch.setattr(tasks.reconcile_deployment, "delay", lambda *a, **k: None)
    pool = make_nodepool(make_cluster(owner))
    model, version = make_model(owner, "sentiment")
    make_deployment(owner, model, version, pool, slug="dep", min_replicas=0, desired_replicas=0)
    return AccessToken.issue(owner, "fuzz")[1]


@pytest.mark.django_db(transaction=True)
def test_predict_api_answers_json_and_never_fails(world):
    from orchestration.asgi import application
    from orchestration.predict import resolve

    key = world

    async def send(method, path, body, auth):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            return await c.request(method, path, content=content, headers=auth)

    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(
        path=paths,
        a=ids,
        b=ids,
        c=ids,
        body=bodies,
        auth=st.sampled_from(["good", "none", "bad", "bearer"]),
        method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
    )
    def check(path, a, b, c, body, auth, method):
        headers = {
            "good": {"Authorization": f"Key {key}"},
            "none": {},
            "bad": {"Authorization": "Key nope"},
            "bearer": {"Authorization": f"Bearer {key}"},
        }[auth]
        resolve._targets.forget()
        if isinstance(body, bytes) and (b"[" * 65 in body or _has_non_standard(body)):
            hostile_seen.add(body)
        response = async_to_sync(send)(method, path.format(a=a, b=b, c=c), body, headers)
        seen.add(response.status_code)
        assert response.status_code < 500 or response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/json"
        status = _strict_json(response.content)["status"]
        past_auth = auth in ("good", "bearer") and method == "POST" and path != "/v2/{a}"
        if isinstance(body, bytes) and body in hostile_seen and past_auth:
            assert response.status_code == 400, response.text
            assert status["code"] == resolve.INVALID_REQUEST
        assert isinstance(status["code"], int)
        if response.status_code == 503:
            assert status["description"] == "Model is deploying"

    seen: set[int] = set()
    hostile_seen: set[bytes] = set()
    check()
    assert hostile_seen, "the run sent no deeply nested or non-standard number body"
    # The run reached past auth and parsing into routing, not only the early refusals.
    assert {400, 401, 404} <= seen, seen
    # A well-formed request to a deployment with no replica: the documented 503.
    for selector_body in (None, {"deployment": {"id": "dep"}}):
        body = {"inputs": [{"data": {"text": {"raw": "hi"}}}], "runner_selector": selector_body}
        response = async_to_sync(send)(
            "POST", "/v2/models/sentiment/outputs", body, {"Authorization": f"Key {key}"}
        )
        assert response.status_code == 503, response.text
        assert response.json()["status"]["code"] == resolve.MODEL_DEPLOYING
