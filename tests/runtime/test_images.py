"""Model images end to end on a real Docker engine: base image, builds, locked-down replicas.

Needs a Docker engine (DOCKER_HOST or the local socket) and, for the iris image, PyPI
access from this host to download scikit-learn wheels (pip's cache makes reruns fast).
Set REQUIRE_DOCKER=1 to fail instead of skipping when no engine answers.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from orchestration import docker_engine as engine
from orchestration.catalog.build_context import (
    content_hash,
    image_tag,
    make_build_context,
    prepare_site_packages,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
URL = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
BASE = os.environ.get("BASE_IMAGE", "orchestration/base:bookworm-py311")
RUN = uuid.uuid4().hex[:8]
TEST_LABEL = "orchestration.test-run"
# Tags of these tests only, so cleaning them up can never touch anyone else's images.
VERSION = "runtime-test"


def engine_answers() -> str | None:
    try:
        engine.ping(URL)
    except engine.EngineError as exc:
        return str(exc)
    return None


_down = engine_answers()
requires_engine = pytest.mark.skipif(
    _down is not None and os.environ.get("REQUIRE_DOCKER") != "1",
    reason=f"no Docker engine answers at {URL}: {_down}",
)


@dataclass
class Built:
    tag: str
    built: bool
    seconds: float
    log: str


def ensure_image(example: str, work_dir: Path) -> Built:
    """What the build task does: skip when the content-addressed tag exists."""
    model_dir = EXAMPLES / example
    tag = image_tag(example, VERSION, content_hash(model_dir, BASE))
    began = time.monotonic()
    if engine.image_exists(URL, tag):
        return Built(tag, False, time.monotonic() - began, "")
    site, log = prepare_site_packages(model_dir / "requirements.txt", work_dir / example)
    context, _ = make_build_context(model_dir, BASE, site_packages_dir=site)
    log += engine.build_image(URL, context, tag, {TEST_LABEL: RUN})
    return Built(tag, True, time.monotonic() - began, log)


@pytest.fixture(scope="module")
def base_image() -> str:
    began = time.monotonic()
    done = subprocess.run(
        [str(ROOT / "scripts" / "build-base-image")],
        env={**os.environ, "BASE_IMAGE": BASE},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"\nbase image ready in {time.monotonic() - began:.1f}s: {done.stderr.strip()}")
    assert engine.image_exists(URL, BASE)
    return BASE


@pytest.fixture(scope="module")
def images(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    work = tmp_path_factory.mktemp("builds")
    result = {}
    for example in ("sentiment", "iris", "failing"):
        tag = image_tag(example, VERSION, content_hash(EXAMPLES / example, BASE))
        # Start from scratch so the build itself is exercised (and timed) every run.
        engine.remove_image(URL, tag)
        result[example] = ensure_image(example, work)
        assert result[example].built
        print(f"built {tag} in {result[example].seconds:.1f}s")
    return result


@pytest.fixture(scope="module")
def cleanup() -> Iterator[None]:
    yield
    for container in engine.list_containers(URL, {TEST_LABEL: RUN}):
        engine.stop_and_remove(URL, container.id, timeout=2)


def start(image: str, name: str, cpu: float, memory: int) -> engine.ContainerInfo:
    return engine.run_replica(
        URL,
        image=image,
        name=f"test-{name}-{RUN}",
        labels={TEST_LABEL: RUN, "orchestration.model": name},
        cpu=cpu,
        memory_bytes=memory,
        env={"MODEL_CONCURRENCY": "2"},
    )


def wait_ready(container: engine.ContainerInfo, timeout: float = 60) -> str:
    url = f"http://127.0.0.1:{container.host_port}"
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url + "/healthz", timeout=2)
            last = response.text
            if response.status_code == 200:
                return url
            if response.status_code == 500:
                break
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.2)
    logs = engine.container_logs(URL, container.id)
    raise AssertionError(f"replica never became ready: {last}\n{logs}")


def predict(url: str, *texts: str) -> list[dict]:
    response = httpx.post(
        url + "/predict", json={"inputs": [{"text": {"raw": t}} for t in texts]}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["outputs"]


def docker_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": URL}
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=env, check=False)


def assert_locked_down(container: engine.ContainerInfo, cpu: float, memory: int) -> None:
    uid = docker_cli("exec", container.id, "python3", "-c", "import os; print(os.getuid())")
    assert uid.stdout.strip() == "10001", uid.stderr
    write_root = docker_cli("exec", container.id, "python3", "-c", "open('/model/x', 'w')")
    assert write_root.returncode != 0
    assert "Read-only file system" in write_root.stderr
    write_tmp = docker_cli("exec", container.id, "python3", "-c", "open('/tmp/x', 'w').write('ok')")
    assert write_tmp.returncode == 0, write_tmp.stderr

    fmt = (
        "{{.HostConfig.ReadonlyRootfs}}|{{.HostConfig.CapDrop}}|{{.HostConfig.SecurityOpt}}|"
        "{{.HostConfig.CpuQuota}}/{{.HostConfig.CpuPeriod}}|{{.HostConfig.Memory}}|{{.HostConfig.PidsLimit}}|"
        "{{.HostConfig.RestartPolicy.Name}}|{{len .Mounts}}|{{.Config.User}}|{{.HostConfig.Privileged}}"
    )
    inspected = docker_cli("inspect", "--format", fmt, container.id).stdout.strip().split("|")
    assert inspected == [
        "true",
        "[ALL]",
        "[no-new-privileges]",
        f"{round(cpu * 100_000)}/100000",
        str(memory),
        "256",
        "no",
        "0",
        "10001:10001",
        "false",
    ]


@pytest.mark.docker
@requires_engine
def test_sentiment_image_serves_locked_down(images, cleanup):
    container = start(images["sentiment"].tag, "sentiment", cpu=0.5, memory=256 * 2**20)
    assert container.running
    assert container.host_port
    url = wait_ready(container)
    outputs = predict(url, "I love this, it is wonderful", "terrible awful experience")
    assert [o["concepts"][0]["id"] for o in outputs] == ["positive", "negative"]
    assert_locked_down(container, 0.5, 256 * 2**20)

    listed = engine.list_containers(URL, {TEST_LABEL: RUN, "orchestration.model": "sentiment"})
    assert [c.id for c in listed] == [container.id]
    assert listed[0].status == "running"
    assert listed[0].host_port == container.host_port
    assert listed[0].labels["orchestration.model"] == "sentiment"

    engine.stop_and_remove(URL, container.id)
    assert engine.list_containers(URL, {TEST_LABEL: RUN, "orchestration.model": "sentiment"}) == []
    # Idempotent: a retried task removing it again is fine.
    engine.stop_and_remove(URL, container.id)
    engine.kill(URL, container.id)


@pytest.mark.docker
@requires_engine
def test_iris_image_with_scikit_learn(images, cleanup):
    container = start(images["iris"].tag, "iris", cpu=1, memory=512 * 2**20)
    url = wait_ready(container, timeout=90)
    outputs = predict(url, "5.1,3.5,1.4,0.2", "6.7,3.0,5.2,2.3")
    assert [o["concepts"][0]["id"] for o in outputs] == ["setosa", "virginica"]
    for output in outputs:
        assert {c["id"] for c in output["concepts"]} == {"setosa", "versicolor", "virginica"}
        assert sum(c["value"] for c in output["concepts"]) == pytest.approx(1.0, abs=1e-4)
    assert_locked_down(container, 1, 512 * 2**20)
    engine.stop_and_remove(URL, container.id)


@pytest.mark.docker
@requires_engine
def test_failing_model_in_container_reports_and_logs(images, cleanup):
    container = start(images["failing"].tag, "failing", cpu=0.25, memory=128 * 2**20)
    url = wait_ready(container)
    response = httpx.post(url + "/predict", json={"inputs": [{"text": {"raw": "x"}}]}, timeout=10)
    assert response.status_code == 500
    assert response.json() == {"error": "ValueError: this model always fails"}
    assert httpx.get(url + "/healthz", timeout=5).json()["status"] == "ready"
    assert "this model always fails" in engine.container_logs(URL, container.id, tail=50)

    engine.kill(URL, container.id)
    stopped = engine.inspect_container(URL, container.id)
    assert stopped.status == "exited"
    assert stopped.exit_code == 137
    listed = engine.list_containers(URL, {TEST_LABEL: RUN, "orchestration.model": "failing"})
    assert [(c.status, c.exit_code) for c in listed] == [("exited", 137)]
    assert (
        engine.list_containers(URL, {TEST_LABEL: RUN, "orchestration.model": "failing"}, all=False)
        == []
    )
    engine.stop_and_remove(URL, container.id)


@pytest.mark.docker
@requires_engine
def test_same_content_reuses_the_image(images, tmp_path):
    again = ensure_image("sentiment", tmp_path)
    assert again.tag == images["sentiment"].tag
    assert not again.built
    assert engine.image_exists(URL, again.tag)
    assert not engine.image_exists(URL, "orchestration/never-built:nope")
    # Transfers are skipped when the destination already has the image.
    assert engine.transfer_image(URL, URL, again.tag) is False


@pytest.mark.docker
@requires_engine
def test_ping_reports_capacity():
    info = engine.ping(URL)
    assert info.version
    assert info.ncpu >= 1
    assert info.mem_total_bytes > 0
    assert info.os


@pytest.mark.docker
@requires_engine
def test_missing_container_and_image_errors(base_image):
    with pytest.raises(engine.NotFoundError):
        engine.inspect_container(URL, "no-such-container-" + RUN)
    engine.stop_and_remove(URL, "no-such-container-" + RUN)
    with pytest.raises(engine.EngineError) as caught:
        engine.run_replica(
            URL,
            image="orchestration/never-built:nope",
            name=f"test-missing-{RUN}",
            labels={TEST_LABEL: RUN},
            cpu=0.1,
            memory_bytes=64 * 2**20,
        )
    assert not isinstance(caught.value, engine.EngineUnreachable)


@pytest.mark.docker
@requires_engine
def test_failed_build_carries_the_log(base_image):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = f"FROM {base_image}\nCOPY missing-file /x\n".encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(engine.ImageBuildError) as caught:
        engine.build_image(URL, buffer.getvalue(), f"orchestration/broken:{RUN}", {})
    assert "missing-file" in caught.value.log
    assert not engine.image_exists(URL, f"orchestration/broken:{RUN}")


@pytest.mark.parametrize("url", ["unix:///nonexistent.sock", "tcp://127.0.0.1:1"])
def test_unreachable_engine_is_a_named_transient_error(url):
    began = time.monotonic()
    with pytest.raises(engine.EngineUnreachable) as caught:
        engine.ping(url)
    assert caught.value.url == url
    assert isinstance(caught.value, engine.EngineError)
    assert time.monotonic() - began < 20
    with pytest.raises(engine.EngineUnreachable):
        engine.list_containers(url, {"a": "b"})
