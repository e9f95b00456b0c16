"""One transport's predict rate from a Python client loop: HTTP (httpx) or gRPC.

Run as a child of bench/predict_wrk.py (its own process and GIL):

    python bench/client_loop.py {http,grpc,sdk} TARGET KEY DEPLOYMENT CONNECTIONS SECONDS

It prints one JSON line: {"rps", "p50", "p99", "errors"}. No C load generator speaks
Clarifai's gRPC here (ghz is not packaged), so gRPC is measured with the client its users
run, and HTTP with a Python client of the same kind beside it: the ratio between the two
rows compares the transports; the absolute figures include the client's own cost.

- http: httpx.Client per connection, POST /v2/users/me/deployments/D/outputs;
- grpc: clarifai-grpc's V2Stub (what the SDK calls) per connection, PostModelOutputs;
- sdk: the clarifai SDK's Model(...).predict_by_bytes, one Model per connection.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time

TEXT = "hello world"


def _http_call(target: str, key: str, deployment: str):
    import httpx

    client = httpx.Client(headers={"Authorization": f"Key {key}"}, timeout=30)
    url = f"{target}/v2/users/me/deployments/{deployment}/outputs"
    body = {"inputs": [{"data": {"text": {"raw": TEXT}}}]}

    def call() -> bool:
        return client.post(url, json=body).status_code == 200

    return call


def _grpc_call(target: str, key: str, deployment: str):
    from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
    from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
    from clarifai_grpc.grpc.api.status import status_code_pb2

    host, port = target.rsplit(":", 1)
    stub = service_pb2_grpc.V2Stub(ClarifaiChannel.get_insecure_grpc_channel(host, int(port)))
    request = service_pb2.PostModelOutputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="me", app_id="main"),
        model_id="noop",
        runner_selector=resources_pb2.RunnerSelector(
            deployment=resources_pb2.Deployment(id=deployment)
        ),
        inputs=[resources_pb2.Input(data=resources_pb2.Data(text=resources_pb2.Text(raw=TEXT)))],
    )
    metadata = (("authorization", f"Key {key}"),)

    def call() -> bool:
        answer = stub.PostModelOutputs(request, metadata=metadata)
        return answer.status.code == status_code_pb2.SUCCESS

    return call


def _sdk_call(target: str, key: str, deployment: str):
    from clarifai.client.model import Model

    model = Model(
        model_id="noop",
        user_id="me",
        app_id="main",
        base_url=f"http://{target}",
        pat=key,
        deployment_id=deployment,
    )

    def call() -> bool:
        return bool(model.predict_by_bytes(TEXT.encode(), input_type="text").outputs)

    return call


MAKERS = {"http": _http_call, "grpc": _grpc_call, "sdk": _sdk_call}


def measure(kind: str, target: str, key: str, deployment: str, conns: int, seconds: float):
    calls = [MAKERS[kind](target, key, deployment) for _ in range(conns)]
    for call in calls:  # connect and warm up outside the timed window
        call()
    latencies: list[list[float]] = [[] for _ in calls]
    errors = [0] * conns
    deadline = time.perf_counter() + seconds

    def worker(index: int) -> None:
        call, mine = calls[index], latencies[index]
        while (start := time.perf_counter()) < deadline:
            try:
                ok = call()
            except Exception:  # a failed call counts; the loop goes on
                ok = False
            mine.append(time.perf_counter() - start)
            errors[index] += not ok

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = sorted(x for per in latencies for x in per)
    return {
        "rps": len(every) / elapsed,
        "p50": statistics.median(every) * 1000,
        "p99": every[min(len(every) - 1, int(len(every) * 0.99))] * 1000,
        "errors": sum(errors),
    }


if __name__ == "__main__":
    kind, target, key, deployment, conns, seconds = sys.argv[1:7]
    if kind == "sdk":
        # The SDK's inner User("me") follows CLARIFAI_API_BASE, read when it is imported.
        os.environ["CLARIFAI_API_BASE"] = f"http://{target}"
    result = measure(kind, target, key, deployment, int(conns), float(seconds))
    print(json.dumps(result))
