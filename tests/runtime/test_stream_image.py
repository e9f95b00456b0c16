"""The markov example built into a real image streams from its container, and batches."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from orchestration import docker_engine as engine
from tests.runtime.test_images import (  # noqa: F401 - fixtures used by name
    RUN,
    TEST_LABEL,
    URL,
    base_image,
    cleanup,
    ensure_image,
    requires_engine,
    wait_ready,
)


@pytest.mark.docker
@requires_engine
def test_markov_image_streams_and_batches(base_image, cleanup, tmp_path):  # noqa: F811
    image = ensure_image("markov", tmp_path)
    container = engine.run_replica(
        URL,
        image=image.tag,
        name=f"test-markov-{RUN}",
        labels={TEST_LABEL: RUN, "orchestration.model": "markov"},
        cpu=0.5,
        memory_bytes=128 * 2**20,
        env={"MODEL_CONCURRENCY": "2", "BATCH_MAX_SIZE": "8", "BATCH_MAX_WAIT_MS": "5"},
    )
    url = wait_ready(container)
    health = httpx.get(url + "/healthz", timeout=5).json()
    assert health["generate"] is True
    assert health["batching"] == {"max_batch_size": 8, "max_wait_ms": 5.0}

    body = {"inputs": [{"text": {"raw": "the White Rabbit"}}]}
    whole = httpx.post(url + "/predict", json=body, timeout=30).json()
    assert whole["batch_size"] == 1
    text = whole["outputs"][0]["text"]["raw"]

    with httpx.stream("POST", url + "/generate", json=body, timeout=30) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "application/x-ndjson"
        arrivals: list[float] = []
        chunks: list[str] = []
        began = time.monotonic()
        for line in reply.iter_lines():
            arrivals.append(time.monotonic() - began)
            chunks.append(json.loads(line)["outputs"][0]["text"]["raw"])
    assert "".join(chunks) == text
    assert len(chunks) > 5
    # Chunks leave as they are yielded (50 ms apart in the model), not all at the end.
    assert arrivals[-1] - arrivals[0] > 0.2, arrivals
    engine.stop_and_remove(URL, container.id)
