"""Upload checks for the optional `batching` section of config.yaml and for streaming
(generate-only) model classes."""

from __future__ import annotations

import pytest

from orchestration.catalog.upload import UploadError
from orchestration.catalog.upload.validate import validate_model_folder
from tests.catalog_upload.archives import EXAMPLES, config, model_files, write_folder


def check(tmp_path, **changes):
    return validate_model_folder(write_folder(tmp_path, model_files(**changes)))


def refused(tmp_path, **changes) -> UploadError:
    with pytest.raises(UploadError) as caught:
        check(tmp_path, **changes)
    return caught.value


@pytest.mark.parametrize(
    ("section", "stored"),
    [
        (
            "batching: {max_batch_size: 32, max_wait_ms: 5}",
            {"max_batch_size": 32, "max_wait_ms": 5},
        ),
        (
            "batching:\n  max_batch_size: 1\n  max_wait_ms: 0\n",
            {"max_batch_size": 1, "max_wait_ms": 0},
        ),
        (
            "batching: {max_batch_size: 1024, max_wait_ms: 2.5}",
            {"max_batch_size": 1024, "max_wait_ms": 2.5},
        ),
        (
            "batching: {max_batch_size: 8, max_wait_ms: 10000}",
            {"max_batch_size": 8, "max_wait_ms": 10000},
        ),
    ],
)
def test_batching_section_accepted_and_kept(tmp_path, section, stored):
    upload = check(tmp_path, config_dot_yaml=config(extra=section + "\n"))
    assert upload.config["batching"] == stored


BAD_BATCHING = {
    "not a mapping": ("batching: 32", "batching must be a mapping such as"),
    "empty": ("batching:", "batching must be a mapping such as"),
    "unknown key": (
        "batching: {max_batch_size: 4, max_wait_ms: 1, timeout: 3}",
        "unknown key 'batching.timeout' (allowed under batching: max_batch_size, max_wait_ms)",
    ),
    "size missing": ("batching: {max_wait_ms: 5}", "batching.max_batch_size is missing"),
    "wait missing": ("batching: {max_batch_size: 4}", "batching.max_wait_ms is missing"),
    "size zero": (
        "batching: {max_batch_size: 0, max_wait_ms: 5}",
        "max_batch_size 0 is out of range",
    ),
    "size too big": (
        "batching: {max_batch_size: 1025, max_wait_ms: 5}",
        "batching.max_batch_size 1025 is out of range: use 1 to 1024",
    ),
    "size fractional": (
        "batching: {max_batch_size: 2.5, max_wait_ms: 5}",
        "batching.max_batch_size must be a whole number, not the number 2.5",
    ),
    "size text": (
        'batching: {max_batch_size: "32", max_wait_ms: 5}',
        "batching.max_batch_size must be a whole number, not text",
    ),
    "size boolean": (
        "batching: {max_batch_size: true, max_wait_ms: 5}",
        "batching.max_batch_size must be a whole number, not true/false",
    ),
    "wait negative": (
        "batching: {max_batch_size: 4, max_wait_ms: -1}",
        "batching.max_wait_ms -1 is out of range: use 0 to 10000",
    ),
    "wait too long": (
        "batching: {max_batch_size: 4, max_wait_ms: 10001}",
        "batching.max_wait_ms 10001 is out of range",
    ),
    "wait text": (
        "batching: {max_batch_size: 4, max_wait_ms: 5ms}",
        "batching.max_wait_ms must be a number of milliseconds, not text",
    ),
    "wait nan": (
        "batching: {max_batch_size: 4, max_wait_ms: .nan}",
        "max_wait_ms must be a number",
    ),
    "wait infinite": ("batching: {max_batch_size: 4, max_wait_ms: .inf}", "is out of range"),
}


@pytest.mark.parametrize(("section", "fragment"), BAD_BATCHING.values(), ids=BAD_BATCHING)
def test_bad_batching_section_refused(tmp_path, section, fragment):
    error = refused(tmp_path, config_dot_yaml=config(extra=section + "\n"))
    assert error.file == "config.yaml"
    assert fragment in error.message, error.message


GENERATE_ONLY = """\
class Streamer:
    def generate(self, inputs):
        yield [{"text": {"raw": "hi"}} for _ in inputs]
"""


def test_generate_only_model_accepted(tmp_path):
    upload = check(tmp_path, **{"1__model_dot_py": GENERATE_ONLY})
    assert (upload.model_class, upload.streams) == ("Streamer", True)


def test_helper_class_with_generate_is_not_a_second_model(tmp_path):
    source = GENERATE_ONLY + (
        "\n\nclass Model:\n    def predict(self, inputs):\n        return list(inputs)\n"
    )
    upload = check(tmp_path, **{"1__model_dot_py": source})
    assert (upload.model_class, upload.streams) == ("Model", False)


def test_two_generate_classes_refused(tmp_path):
    source = GENERATE_ONLY + GENERATE_ONLY.replace("Streamer", "Other")
    error = refused(tmp_path, **{"1__model_dot_py": source})
    assert error.file == "1/model.py"
    assert "several model classes (Other, Streamer); keep exactly one class with a generate" in (
        error.message
    )


def test_generate_without_inputs_refused(tmp_path):
    source = "class S:\n    def generate(self):\n        yield []\n"
    error = refused(tmp_path, **{"1__model_dot_py": source})
    assert "generate must take the inputs: def generate(self, inputs)" in error.message


def test_markov_example_is_a_valid_streaming_upload():
    upload = validate_model_folder(EXAMPLES / "markov")
    assert upload.model_id == "markov"
    assert (upload.model_class, upload.streams) == ("MarkovModel", True)
    assert "1/alice.txt" in upload.files
