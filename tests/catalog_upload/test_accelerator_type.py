"""config.yaml's inference_compute_info.accelerator_type: text or a list of names a
nodepool could have, matched at placement."""

from __future__ import annotations

import pytest

from orchestration.catalog.upload import UploadError
from orchestration.catalog.upload.validate import validate_model_folder
from tests.catalog_upload.archives import config, model_files, write_folder


def check(tmp_path, compute: str):
    text = config(extra=f"inference_compute_info:\n{compute}")
    return validate_model_folder(write_folder(tmp_path, model_files(config_dot_yaml=text)))


@pytest.mark.parametrize(
    "compute",
    [
        "  num_accelerators: 1\n  accelerator_type: NVIDIA-A10G\n",
        "  num_accelerators: 2\n  accelerator_type: [NVIDIA-A10G, NVIDIA-L4]\n",
        "  num_accelerators: 1\n  accelerator_type: ['NVIDIA-*']\n",
    ],
)
def test_accepted_and_kept(tmp_path, compute):
    upload = check(tmp_path, compute)
    assert upload.num_accelerators >= 1
    assert upload.config["inference_compute_info"]["accelerator_type"]


@pytest.mark.parametrize(
    ("compute", "message"),
    [
        ("  accelerator_type: 3\n", "accelerator_type must be text or a list of text"),
        ("  accelerator_type: [a10g, 4]\n", "accelerator_type must be text or a list of text"),
        ("  accelerator_type: []\n", "accelerator_type is an empty list"),
        ("  accelerator_type: '  '\n", "accelerator_type has an empty name"),
        (f"  accelerator_type: {'x' * 65}\n", "is longer than 64 characters"),
        ("  num_accelerators: -1\n", "num_accelerators must be a whole number"),
    ],
)
def test_refused_naming_the_field(tmp_path, compute, message):
    with pytest.raises(UploadError) as caught:
        check(tmp_path, compute)
    assert message in str(caught.value)
    assert "inference_compute_info." in str(caught.value)


def test_more_accelerators_than_any_node_has_are_refused(tmp_path):
    from orchestration.catalog.upload.config import check_config

    (tmp_path / "config.yaml").write_text(
        "model:\n  id: big\ninference_compute_info:\n  num_accelerators: 100000000000000000000\n"
    )
    with pytest.raises(UploadError, match="at most 64"):
        check_config(tmp_path)
