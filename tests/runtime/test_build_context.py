"""Build contexts for model images: deterministic hashes, tar layout, wheel handling."""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from orchestration.catalog.build_context import (
    FIXED_MTIME,
    RUNNER_PATH,
    BuildError,
    content_hash,
    download_wheels,
    image_tag,
    install_wheels_to_target,
    make_build_context,
    prepare_site_packages,
    target_platforms,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BASE = "orchestration/base:bookworm-py311"


@pytest.fixture
def sentiment(tmp_path: Path) -> Path:
    copy = tmp_path / "sentiment"
    shutil.copytree(EXAMPLES / "sentiment", copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def members(context: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(context)) as tar:
        return {m.name: m for m in tar.getmembers()}


def read(context: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(context)) as tar:
        handle = tar.extractfile(name)
        assert handle is not None
        return handle.read()


def test_hash_is_stable_across_copies_and_runs(sentiment: Path, tmp_path: Path):
    first = content_hash(sentiment, BASE)
    assert first == content_hash(sentiment, BASE)
    assert len(first) == 64
    # Another path, fresh mtimes, upload litter: same content, same hash.
    other = tmp_path / "elsewhere" / "x"
    shutil.copytree(sentiment, other)
    (other / "1" / "__pycache__").mkdir()
    (other / "1" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"junk")
    (other / ".DS_Store").write_bytes(b"junk")
    assert content_hash(other, BASE) == first


def test_hash_changes_with_what_matters(sentiment: Path, tmp_path: Path):
    first = content_hash(sentiment, BASE)
    assert content_hash(sentiment, "other/base:1") != first

    runner = tmp_path / "server.py"
    runner.write_bytes(RUNNER_PATH.read_bytes() + b"\n# changed\n")
    assert content_hash(sentiment, BASE, runner) != first

    (sentiment / "requirements.txt").write_text("requests==2.32.3\n")
    with_reqs = content_hash(sentiment, BASE)
    assert with_reqs != first

    lexicon = sentiment / "1" / "lexicon.txt"
    lexicon.write_text(lexicon.read_text() + "splendiferous 3\n")
    assert content_hash(sentiment, BASE) not in (first, with_reqs)

    # A rename with the same bytes is a different model too.
    (sentiment / "1" / "lexicon.txt").rename(sentiment / "1" / "words.txt")
    renamed = content_hash(sentiment, BASE)
    assert renamed not in (first, with_reqs)


def test_context_layout_and_dockerfile(sentiment: Path):
    context, digest = make_build_context(sentiment, BASE)
    assert digest == content_hash(sentiment, BASE)
    entries = members(context)
    assert {
        "Dockerfile",
        "runner/server.py",
        "runner/runner_model.py",
        "runner/runner_batching.py",
        "model/config.yaml",
        "model/1/model.py",
        "model/1/lexicon.txt",
    } <= set(entries)
    assert not any(name.startswith("site-packages") for name in entries)
    assert not any("__pycache__" in name for name in entries)
    for info in entries.values():
        assert info.mtime == FIXED_MTIME
        assert (info.uid, info.gid, info.uname, info.gname) == (0, 0, "", "")

    assert read(context, "runner/server.py") == RUNNER_PATH.read_bytes()
    for sibling in ("runner_model.py", "runner_batching.py"):
        assert read(context, f"runner/{sibling}") == (RUNNER_PATH.parent / sibling).read_bytes()
    # Only the runner's own files: not the package's __init__.py or caches.
    assert {n for n in entries if n.startswith("runner/")} == {
        "runner/server.py",
        "runner/runner_model.py",
        "runner/runner_batching.py",
    }
    assert read(context, "model/1/model.py") == (sentiment / "1" / "model.py").read_bytes()

    dockerfile = read(context, "Dockerfile").decode()
    lines = dockerfile.splitlines()
    assert lines[0] == f"FROM {BASE}"
    assert "COPY runner/ /opt/runner/" in lines
    assert "COPY model/ /model/" in lines
    assert "USER 10001:10001" in lines
    assert "EXPOSE 8080" in lines
    assert f"LABEL org.orchestration.content-hash={digest}" in lines
    assert any(line.startswith("ENV ") and "PYTHONDONTWRITEBYTECODE=1" in line for line in lines)
    assert lines[-1] == (
        'CMD ["python3", "/opt/runner/server.py", "--model-dir", "/model", "--port", "8080"]'
    )
    # The USER line comes after every COPY so files stay root-owned and read-only.
    assert lines.index("USER 10001:10001") > max(
        i for i, line in enumerate(lines) if line.startswith("COPY")
    )


def test_context_bytes_are_deterministic(sentiment: Path, tmp_path: Path):
    first, digest = make_build_context(sentiment, BASE)
    other = tmp_path / "copy"
    shutil.copytree(sentiment, other)
    second, digest2 = make_build_context(other, BASE)
    assert digest == digest2
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()


def test_site_packages_are_included(sentiment: Path, tmp_path: Path):
    site = tmp_path / "site"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    context, digest = make_build_context(sentiment, BASE, site_packages_dir=site)
    entries = members(context)
    assert "site-packages/pkg/__init__.py" in entries
    assert "COPY site-packages/ /model/site-packages/" in read(context, "Dockerfile").decode()
    # Installed packages follow from requirements.txt; they do not change the tag.
    assert digest == content_hash(sentiment, BASE)

    with pytest.raises(BuildError):
        make_build_context(sentiment, BASE, site_packages_dir=tmp_path / "missing")


def test_symlinks_leaving_the_model_are_refused(sentiment: Path):
    (sentiment / "1" / "secret").symlink_to("/etc/passwd")
    with pytest.raises(BuildError, match="outside the model folder"):
        content_hash(sentiment, BASE)
    with pytest.raises(BuildError, match="outside the model folder"):
        make_build_context(sentiment, BASE)


def test_symlinks_inside_the_model_are_kept_as_links(sentiment: Path):
    (sentiment / "1" / "words.txt").symlink_to("lexicon.txt")
    context, _ = make_build_context(sentiment, BASE)
    link = members(context)["model/1/words.txt"]
    assert link.issym()
    assert link.linkname == "lexicon.txt"


def test_model_without_code_is_refused(tmp_path: Path):
    (tmp_path / "config.yaml").write_text("model:\n  id: x\n")
    with pytest.raises(BuildError, match="1/model.py"):
        make_build_context(tmp_path, BASE)


def test_image_tag():
    digest = "ab" * 32
    assert image_tag("sentiment", "v3", digest) == "orchestration/sentiment:v3-abababababab"
    assert image_tag("My Model", "2024/01 build", digest) == (
        "orchestration/my-model:2024-01-build-abababababab"
    )
    long_tag = image_tag("m", "v" * 300, digest).split(":", 1)[1]
    assert len(long_tag) == 128
    assert long_tag.endswith("-abababababab")


def test_target_platforms_cover_bookworm_glibc():
    tags = target_platforms("x86_64")
    assert tags[0] == "manylinux_2_36_x86_64"
    assert {"manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert "manylinux_2_37_x86_64" not in tags
    arm = target_platforms("arm64")
    assert arm[0] == "manylinux_2_36_aarch64"
    assert "manylinux2014_aarch64" in arm
    assert not any("x86_64" in tag for tag in arm)


def test_download_failure_carries_pip_output(tmp_path: Path):
    requirements = tmp_path / "requirements.txt"
    # Invalid syntax fails in pip's parser, before any network access.
    requirements.write_text("this is ==not a requirement!!\n")
    with pytest.raises(BuildError) as caught:
        download_wheels(requirements, tmp_path / "wheels")
    assert "downloading requirements failed" in str(caught.value)
    assert "pip" in caught.value.log
    assert "--only-binary=:all:" in caught.value.log
    assert "manylinux_2_36_" in caught.value.log


def make_wheel(directory: Path, name: str = "tinypkg", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel, built by hand so the test needs no network."""
    directory.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"ANSWER = 42\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def test_install_wheels_to_target_offline(tmp_path: Path):
    wheels = tmp_path / "wheels"
    make_wheel(wheels)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("tinypkg==1.0\n")
    target = tmp_path / "site"
    log = install_wheels_to_target(wheels, target, requirements)
    assert "--no-index" in log
    assert (target / "tinypkg" / "__init__.py").read_text() == "ANSWER = 42\n"
    assert (target / "tinypkg-1.0.dist-info" / "METADATA").is_file()
    if sys.version_info[:2] == (3, 11):
        pycs = list((target / "tinypkg" / "__pycache__").glob("*.cpython-311.pyc"))
        assert pycs, log
        # Unchecked-hash pyc: flags field (bytes 4..8) has bit 0 set and bit 1 clear.
        flags = int.from_bytes(pycs[0].read_bytes()[4:8], "little")
        assert flags & 0b11 == 0b01

    # Without a requirements file every wheel in the folder is installed as is.
    make_wheel(tmp_path / "more", "otherpkg", "2.0")
    install_wheels_to_target(tmp_path / "more", tmp_path / "site2")
    assert (tmp_path / "site2" / "otherpkg" / "__init__.py").is_file()


def test_prepare_site_packages_without_requirements(tmp_path: Path):
    assert prepare_site_packages(tmp_path / "requirements.txt", tmp_path / "work") == (None, "")
    comments = tmp_path / "requirements.txt"
    comments.write_text("# nothing needed\n\n")
    assert prepare_site_packages(comments, tmp_path / "work") == (None, "")
