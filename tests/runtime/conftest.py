"""The runner-process fixture of test_runner.py, shared with the batching and streaming
tests."""

from tests.runtime.test_runner import start_runner  # noqa: F401
