"""Building model uploads (folders, .zip, .tar.gz, hostile archives) for the ingest tests."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

from django.conf import settings

from orchestration.catalog.models import Model, ModelVersion

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

CONFIG = """\
model:
  id: demo
  description: A demo model
  model_type_id: text-classifier
inference_compute_info:
  cpu_limit: "500m"
  cpu_memory: "256Mi"
  num_accelerators: 0
"""

MODEL_PY = """\
class Demo:
    def load_model(self):
        self.ready = True

    def predict(self, inputs):
        return [{"text": {"raw": "ok"}} for _ in inputs]
"""


def model_files(**changes: str | bytes | None) -> dict[str, bytes]:
    """A valid upload as {path: bytes}; keys use '__' for '/' and '_dot_' for '.'; None
    removes a file."""
    files: dict[str, str | bytes] = {
        "config.yaml": CONFIG,
        "requirements.txt": "# no dependencies\n",
        "1/model.py": MODEL_PY,
        "1/words.txt": "good 1\nbad -1\n",
    }
    for key, value in changes.items():
        path = key.replace("__", "/").replace("_dot_", ".")
        if value is None:
            files.pop(path, None)
        else:
            files[path] = value
    return {p: v.encode() if isinstance(v, str) else v for p, v in files.items()}


def config(model_id: str = "demo", description: str = "A demo model", extra: str = "") -> str:
    return f"model:\n  id: {model_id}\n  description: {description}\n{extra}"


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def zip_bytes(files: dict[str, bytes], prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel, data in files.items():
            archive.writestr(prefix + rel, data)
    return buffer.getvalue()


def make_zip(path: Path, files: dict[str, bytes], prefix: str = "") -> Path:
    path.write_bytes(zip_bytes(files, prefix))
    return path


def make_targz(path: Path, files: dict[str, bytes], extra: tuple[tarfile.TarInfo, ...] = ()):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for rel, data in files.items():
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra:
            archive.addfile(info)
    path.write_bytes(buffer.getvalue())
    return path


def folder_zip(folder: Path, prefix: str = "") -> bytes:
    """A .zip of a folder on disk (an example model), paths under ``prefix``."""
    files = {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
    return zip_bytes(files, prefix)


def stored_files() -> list[Path]:
    media = Path(settings.MEDIA_ROOT)
    return sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []


def assert_nothing_stored() -> None:
    assert list(Model.objects.values_list("slug", flat=True)) == []
    assert ModelVersion.objects.count() == 0
    assert stored_files() == []
