"""Dynamic batching in the runner: concurrent predict requests share model calls."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.runtime.test_runner import EXAMPLES, write_model

# Echoes each input's text and says how many inputs its model call held, so a test can
# check that the runner's batch_size is the call's real size and no output moved.
ECHO = """
import time

class Echo:
    def predict(self, inputs):
        time.sleep(SLEEP)
        if any((d.get("text") or {}).get("raw") == "boom" for d in inputs):
            raise ValueError("boom in this batch")
        if any((d.get("text") or {}).get("raw") == "short" for d in inputs):
            return [{"text": {"raw": "one"}}]
        return [
            {"text": {"raw": d["text"]["raw"]}, "concepts": [{"id": "call", "value": len(inputs)}]}
            for d in inputs
        ]
"""


def echo_model(tmp_path, sleep: float = 0.05):
    return write_model(tmp_path, ECHO.replace("SLEEP", repr(sleep)))


def texts_of(response: httpx.Response) -> list[str]:
    return [o["text"]["raw"] for o in response.json()["outputs"]]


def test_concurrent_requests_share_model_calls(start_runner, tmp_path):
    runner = start_runner(echo_model(tmp_path), BATCH_MAX_SIZE="8", BATCH_MAX_WAIT_MS="20")
    health = runner.wait()
    assert health["batching"] == {"max_batch_size": 8, "max_wait_ms": 20.0}
    assert health["batches"] == 0

    def caller(worker: int) -> list[tuple[list[str], httpx.Response]]:
        seen = []
        with httpx.Client(base_url=runner.url, timeout=30) as client:
            for round_ in range(4):
                # One or two inputs per request, so batches mix request sizes.
                sent = [f"w{worker}-r{round_}-{i}" for i in range(1 + (worker + round_) % 2)]
                inputs = [{"text": {"raw": t}} for t in sent]
                seen.append((sent, client.post("/predict", json={"inputs": inputs})))
        return seen

    with ThreadPoolExecutor(16) as pool:
        results = [r for rs in pool.map(caller, range(16)) for r in rs]

    sizes = []
    total_inputs = 0
    for sent, response in results:
        assert response.status_code == 200, response.text
        body = response.json()
        # Each caller gets its own outputs, in its order.
        assert texts_of(response) == sent
        calls = {o["concepts"][0]["value"] for o in body["outputs"]}
        assert calls == {body["batch_size"]}
        assert len(sent) <= body["batch_size"] <= 8
        sizes.append(body["batch_size"])
        total_inputs += len(sent)
    assert max(sizes) > 1, sizes

    health = runner.get("/healthz").json()
    assert health["batched_inputs"] == total_inputs
    assert health["batches"] < len(results)
    assert health["in_flight"] == 0
    assert health["served"] == len(results)


def test_lone_requests_wait_at_most_max_wait_then_not_at_all(start_runner, tmp_path):
    runner = start_runner(echo_model(tmp_path, 0), BATCH_MAX_SIZE="16", BATCH_MAX_WAIT_MS="300")
    runner.wait()
    with httpx.Client(base_url=runner.url, timeout=30) as client:
        client.get("/healthz")  # connection set up outside the timing

        def timed() -> float:
            began = time.monotonic()
            response = client.post("/predict", json={"inputs": [{"text": {"raw": "alone"}}]})
            assert response.json()["batch_size"] == 1
            return time.monotonic() - began

        # The first waits for company (max_wait_ms) and then goes alone; generous slack.
        first = timed()
        assert 0.25 <= first < 0.3 + 1.0, first
        # No company came: traffic is sparse, and the next lone requests go at once.
        later = [timed() for _ in range(3)]
        assert max(later) < 0.25, later


def test_a_burst_after_lone_requests_is_batched_again(start_runner, tmp_path):
    runner = start_runner(echo_model(tmp_path, 0.1), BATCH_MAX_SIZE="16", BATCH_MAX_WAIT_MS="20")
    runner.wait()
    for _ in range(3):
        assert runner.predict("alone").json()["batch_size"] == 1
    with ThreadPoolExecutor(12) as pool:
        sizes = [r.json()["batch_size"] for r in pool.map(runner.predict, map(str, range(12)))]
    # The first of the burst may go alone; the others queue behind its call and share one.
    assert max(sizes) > 1, sizes
    assert runner.get("/healthz").json()["batches"] <= 3 + 4


def test_full_batch_goes_without_waiting(start_runner, tmp_path):
    runner = start_runner(echo_model(tmp_path, 0), BATCH_MAX_SIZE="4", BATCH_MAX_WAIT_MS="5000")
    runner.wait()
    began = time.monotonic()
    # Four inputs fill a batch of four: no wait for more.
    response = runner.predict("a", "b", "c", "d")
    assert time.monotonic() - began < 3
    assert response.json()["batch_size"] == 4
    # Larger than a batch: one call of its own, never split.
    began = time.monotonic()
    response = runner.predict(*"abcdefg")
    assert time.monotonic() - began < 3
    assert texts_of(response) == list("abcdefg")
    assert response.json()["batch_size"] == 7


def test_a_model_error_fails_only_its_own_batch(start_runner, tmp_path):
    runner = start_runner(echo_model(tmp_path, 0.1), BATCH_MAX_SIZE="4", BATCH_MAX_WAIT_MS="50")
    runner.wait()
    ok: list[httpx.Response] = []
    failed: list[httpx.Response] = []

    def normal(i: int) -> None:
        ok.append(runner.predict(f"fine {i}"))

    def boom() -> None:
        # Four inputs fill a batch, so this request is alone in its call.
        failed.append(runner.predict("boom", "x", "y", "z"))

    threads = [threading.Thread(target=boom)]
    threads += [threading.Thread(target=normal, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in failed] == [500]
    assert failed[0].json() == {"error": "ValueError: boom in this batch"}
    assert sorted(r.status_code for r in ok) == [200] * 12
    assert all(texts_of(r)[0].startswith("fine ") for r in ok)


def test_every_request_of_a_failing_batch_gets_the_error(start_runner, tmp_path):
    runner = start_runner(echo_model(tmp_path, 0), BATCH_MAX_SIZE="8", BATCH_MAX_WAIT_MS="400")
    runner.wait()
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(runner.predict, ["boom", "a", "b"]))
    assert responses[0].status_code == 500
    for response in responses:
        # The three arrive well within 400 ms, so they share the failing call; were one
        # late, it would ride a call of its own and succeed.
        if response.status_code != 200:
            assert response.status_code == 500
            assert response.json() == {"error": "ValueError: boom in this batch"}
    assert sum(r.status_code == 500 for r in responses) >= 2

    # A broken output contract fails the batch the same way, named as such.
    short = runner.predict("short", "two")
    assert short.status_code == 500
    assert short.json()["error"] == (
        "OutputError: predict returned 1 outputs for 2 inputs; "
        "it must return exactly one output per input, in order"
    )
    # The dispatcher survives its batches' failures.
    after = runner.predict("later")
    assert after.status_code == 200
    assert texts_of(after) == ["later"]


def test_unbatched_runner_reports_its_calls(start_runner):
    runner = start_runner(EXAMPLES / "noop", MODEL_CONCURRENCY="2")
    health = runner.wait()
    assert health["batching"] is None
    assert health["generate"] is False
    assert health["predict"] is True
    response = runner.predict("a", "b", "c")
    assert response.json() == {
        "outputs": [{"text": {"raw": "a"}}, {"text": {"raw": "b"}}, {"text": {"raw": "c"}}],
        "batch_size": 3,
    }
    runner.predict("d")
    health = runner.get("/healthz").json()
    assert (health["batches"], health["batched_inputs"]) == (2, 4)


def test_bad_batching_settings_fall_back(start_runner):
    runner = start_runner(EXAMPLES / "noop", BATCH_MAX_SIZE="lots", BATCH_MAX_WAIT_MS="nan")
    assert runner.wait()["batching"] is None
    assert runner.predict("x").json()["batch_size"] == 1
