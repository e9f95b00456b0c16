"""Try it for an image model: a digit image chosen in the portal (dropped on the drop
zone, then through the file field) is previewed, sent to a real digits replica in Docker
and shown with its concepts, the right digit first; the official Clarifai client (JSON
channel) sends the same image as image.base64 and gets the same top class."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from playwright.sync_api import expect

from orchestration import docker_engine
from orchestration.accounts.models import AccessToken
from orchestration.deployments.containers import container_labels
from orchestration.deployments.models import ReplicaState
from orchestration.nodepools.models import NodeStatus
from tests.conftest import requires_docker, wait_for

pytestmark = [
    requires_docker,
    pytest.mark.browser,
    pytest.mark.docker,
    pytest.mark.celery,
    pytest.mark.django_db(transaction=True),
]
ENGINE = "unix:///var/run/docker.sock"
IMAGES = Path(__file__).resolve().parents[1] / "fixtures" / "images"
SEVEN = IMAGES / "digit-7-light-on-dark.png"
THREE = IMAGES / "digit-3-dark-on-light.png"


@pytest.fixture
def digits(owner, make_cluster, make_nodepool, make_node, version_from_example, make_deployment):
    pool = make_nodepool(make_cluster(owner), cpu_cores=2)
    make_node(pool, "node-1", engine_url=ENGINE, cpu_capacity=2, status=NodeStatus.READY)
    model, version = version_from_example(owner, "digits")
    model.model_type_id = version.config["model"]["model_type_id"]
    model.save(update_fields=["model_type_id"])
    dep = make_deployment(
        owner, model, version, pool, slug="digits-dep", min_replicas=1, desired_replicas=1
    )
    yield dep
    for container in docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)):
        docker_engine.stop_and_remove(ENGINE, container.id, timeout=1)


def _drop(page, path: Path) -> None:
    """What a drag from the desktop delivers: a drop event carrying the file."""
    page.evaluate(
        """([name, encoded]) => {
            const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
            const moved = new DataTransfer();
            moved.items.add(new File([bytes], name, { type: "image/png" }));
            const zone = document.querySelector("[data-dropzone-for]");
            zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: moved, bubbles: true }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: moved, bubbles: true }));
        }""",
        [path.name, base64.b64encode(path.read_bytes()).decode()],
    )


def _top(page) -> str:
    return page.locator("#predict-result .concepts li").first.locator(".concept-name").inner_text()


def test_a_digit_image_is_classified_in_try_it_and_by_the_clarifai_client(
    page, shoot, asgi_server, owner, digits
):
    from orchestration.celery import app

    # Past the browser tests' recording of enqueues: the live worker starts the replica.
    app.tasks["orchestration.deployments.tasks.reconcile_deployment"].delay(digits.pk)
    wait_for(
        lambda: digits.replicas.filter(state=ReplicaState.READY).exists(),
        timeout=120,
        message="a ready replica",
    )
    page.goto(f"{asgi_server}/login/")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill("owner-pass-123")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.goto(f"{asgi_server}/models/digits/")
    # An image model: the image input only, no text box.
    expect(page.get_by_label("Input image")).to_be_visible()
    expect(page.locator("#predict-text")).to_have_count(0)
    page.select_option("#deployment", "digits-dep")

    _drop(page, SEVEN)
    expect(page.locator(".image-preview")).to_be_visible()
    assert page.evaluate("document.getElementById('predict-image').files[0].name") == SEVEN.name
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#predict-result .predict-image")).to_be_visible(timeout=30_000)
    assert _top(page) == "7"
    rows = page.locator("#predict-result .concepts li")
    expect(rows).to_have_count(10)
    # Probabilities are bars and percentages.
    expect(rows.first.locator("meter")).to_have_count(1)
    assert rows.first.locator(".concept-value").inner_text().endswith("%")
    shoot(page, "try-it-image-dropped")

    page.set_input_files("#predict-image", str(THREE))
    three = "data:image/png;base64," + base64.b64encode(THREE.read_bytes()).decode()
    expect(page.locator(".image-preview")).to_have_attribute("src", three)
    page.get_by_role("button", name="Predict").click()
    expect(
        page.locator("#predict-result .concepts li").first.locator(".concept-name")
    ).to_have_text("3", timeout=30_000)
    shoot(page, "try-it-image-file-field")

    # The official client, JSON channel, the same image as image.base64.
    from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
    from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
    from clarifai_grpc.grpc.api.status import status_code_pb2

    key = AccessToken.issue(owner, "tests")[1]
    stub = service_pb2_grpc.V2Stub(ClarifaiChannel.get_json_channel(base_url=asgi_server))
    # The image the page sent first, then every fixture (dark on light, light on dark).
    paths = [THREE, *sorted(IMAGES.glob("digit-*.png"))]
    inputs = [
        resources_pb2.Input(
            data=resources_pb2.Data(image=resources_pb2.Image(base64=p.read_bytes()))
        )
        for p in paths
    ]
    response = stub.PostModelOutputs(
        service_pb2.PostModelOutputsRequest(
            model_id="digits",
            inputs=inputs,
            runner_selector=resources_pb2.RunnerSelector(
                deployment=resources_pb2.Deployment(id="digits-dep")
            ),
        ),
        metadata=(("authorization", f"Key {key}"),),
    )
    assert response.status.code == status_code_pb2.SUCCESS, response.status
    assert len(paths) == 5
    for path, output in zip(paths, response.outputs, strict=True):
        assert output.data.concepts[0].id == path.name.split("-")[1], (path.name, output.data)
        assert len(output.data.concepts) == 10
