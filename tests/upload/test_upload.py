"""Model upload checks: unpacking folders/.zip/.tar.gz safely and validating their content.

Plain pytest, no Django: .venv/bin/pytest -p no:django tests/upload
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest

from orchestration.catalog.upload import (
    ModelUpload,
    UploadError,
    UploadLimits,
    extract_upload,
    load_upload,
    pack_folder,
    validate_model_folder,
)

REPO = Path(__file__).resolve().parents[2]

CONFIG = """\
model:
  id: sentiment
  description: Text sentiment
  model_type_id: text-classifier
inference_compute_info:
  cpu_limit: "1"
  cpu_memory: "512Mi"
  num_accelerators: 0
"""

MODEL_PY = """\
class SentimentModel:
    def load_model(self):
        self.ready = True

    def predict(self, inputs: list[dict]) -> list[dict]:
        return [{"concepts": [{"id": "pos", "name": "pos", "value": 0.9}]} for _ in inputs]
"""

REQUIREMENTS = "numpy >= 1.26\n# a comment\n\nrequests==2.31.0  # pinned\n"

LIMITS = UploadLimits()


def model_files(**changes: str | bytes | None) -> dict[str, bytes]:
    """A valid upload as {relative path: bytes}; keyword names use '__' for '/' and '_dot_'
    for '.', e.g. config_dot_yaml=None removes config.yaml."""
    files: dict[str, str | bytes] = {
        "config.yaml": CONFIG,
        "requirements.txt": REQUIREMENTS,
        "1/model.py": MODEL_PY,
        "1/lexicon.txt": "good 1\nbad -1\n",
    }
    for key, value in changes.items():
        path = key.replace("__", "/").replace("_dot_", ".")
        if value is None:
            files.pop(path, None)
        else:
            files[path] = value
    return {path: v.encode() if isinstance(v, str) else v for path, v in files.items()}


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def make_zip(path: Path, files: dict[str, bytes], prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if prefix:
            archive.writestr(prefix, b"")  # a folder entry, as zip tools write them
        for rel, data in files.items():
            archive.writestr(prefix + rel, data)
    return path


def tar_bytes(files: dict[str, bytes], prefix: str = "", extra=()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for rel, data in files.items():
            info = tarfile.TarInfo(prefix + rel)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra:
            archive.addfile(info)
    return buffer.getvalue()


def make_targz(path: Path, files: dict[str, bytes], prefix: str = "", extra=()) -> Path:
    path.write_bytes(tar_bytes(files, prefix, extra))
    return path


def assert_clean(dest: Path) -> None:
    assert not dest.exists() or not any(dest.iterdir()), list(dest.rglob("*"))


def expect_error(
    source: Path,
    dest: Path,
    file: str,
    fragment: str,
    limits: UploadLimits = LIMITS,
    filename: str | None = None,
) -> UploadError:
    with pytest.raises(UploadError) as caught:
        load_upload(source, dest, limits, filename=filename)
    error = caught.value
    assert error.file == file, str(error)
    assert fragment in error.message, str(error)
    assert str(error) == f"{error.file}: {error.message}"
    assert_clean(dest)
    return error


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "work"


# --------------------------------------------------------------------------- valid uploads


def check_valid(upload: ModelUpload, root: Path) -> None:
    assert upload.model_id == "sentiment"
    assert upload.description == "Text sentiment"
    assert upload.model_type_id == "text-classifier"
    assert upload.config["model"]["id"] == "sentiment"
    assert upload.cpu == 1.0
    assert upload.memory_bytes == 512 * 2**20
    assert upload.num_accelerators == 0
    assert upload.requirements == ["numpy>=1.26", "requests==2.31.0"]
    assert upload.files == ["1/lexicon.txt", "1/model.py", "config.yaml", "requirements.txt"]
    assert upload.total_bytes == sum(len(data) for data in model_files().values())
    assert len(upload.content_hash) == 64
    assert upload.root == root
    assert upload.model_class == "SentimentModel"
    assert (root / "1" / "model.py").read_text() == MODEL_PY


def test_valid_folder(tmp_path: Path, dest: Path) -> None:
    source = write_folder(tmp_path / "src", model_files())
    upload = load_upload(source, dest, LIMITS)
    check_valid(upload, dest)
    assert validate_model_folder(source).content_hash == upload.content_hash


def test_valid_zip_into_existing_empty_dest(tmp_path: Path) -> None:
    dest = tmp_path / "empty"
    dest.mkdir()
    upload = load_upload(make_zip(tmp_path / "m.zip", model_files()), dest, LIMITS)
    check_valid(upload, dest)


def test_valid_tar_gz(tmp_path: Path, dest: Path) -> None:
    upload = load_upload(make_targz(tmp_path / "m.tar.gz", model_files()), dest, LIMITS)
    check_valid(upload, dest)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_single_top_folder_is_the_root(tmp_path: Path, dest: Path, kind: str) -> None:
    files = model_files()
    source = tmp_path / f"m.{kind}"
    if kind == "zip":
        make_zip(source, files, prefix="sentiment/")
    else:
        make_targz(source, files, prefix="sentiment/")
    upload = load_upload(source, dest, LIMITS)
    check_valid(upload, dest / "sentiment")
    plain = validate_model_folder(write_folder(tmp_path / "plain", files))
    assert upload.content_hash == plain.content_hash


def test_tar_made_with_dot_prefix(tmp_path: Path, dest: Path) -> None:
    folder = write_folder(tmp_path / "src", model_files())
    source = tmp_path / "m.tgz"
    with tarfile.open(source, "w:gz") as archive:
        archive.add(folder, arcname=".")
    check_valid(load_upload(source, dest, LIMITS), dest)


def test_type_detected_by_content_not_name(tmp_path: Path, dest: Path) -> None:
    zipped = make_zip(tmp_path / "upload.tmp", model_files())
    check_valid(load_upload(zipped, dest, LIMITS, filename="model.tar.gz"), dest)
    tarred = make_targz(tmp_path / "other.bin", model_files())
    check_valid(
        load_upload(tarred, tmp_path / "work2", LIMITS, filename="m.zip"), tmp_path / "work2"
    )


def test_macos_junk_is_skipped(tmp_path: Path, dest: Path) -> None:
    source = tmp_path / "m.zip"
    with zipfile.ZipFile(source, "w") as archive:
        for rel, data in model_files().items():
            archive.writestr("sentiment/" + rel, data)
        archive.writestr("__MACOSX/sentiment/._config.yaml", b"\x00\x05\x16\x07junk")
        archive.writestr("sentiment/.DS_Store", b"junk")
        archive.writestr("sentiment/1/__pycache__/model.cpython-311.pyc", b"junk")
    upload = load_upload(source, dest, LIMITS)
    check_valid(upload, dest / "sentiment")


def test_minimal_config(tmp_path: Path, dest: Path) -> None:
    files = model_files(config_dot_yaml="model:\n  id: m1\n", requirements_dot_txt=None)
    upload = load_upload(write_folder(tmp_path / "src", files), dest, LIMITS)
    assert (upload.model_id, upload.description, upload.model_type_id) == ("m1", "", "")
    assert (upload.cpu, upload.memory_bytes, upload.num_accelerators) == (None, None, 0)
    assert upload.requirements == []


def test_compute_variants(tmp_path: Path, dest: Path) -> None:
    config = (
        "model: {id: m}\n"
        "inference_compute_info:\n"
        "  cpu_requests: 500m\n"
        "  cpu_memory_requests: 1.5Gi\n"
        "  num_accelerators: 1\n"
        "  accelerator_type: [NVIDIA-T4]\n"
        "  accelerator_memory: 15Gi\n"
        "build_info:\n"
        '  python_version: "3.11"\n'
    )
    upload = load_upload(
        write_folder(tmp_path / "src", model_files(config_dot_yaml=config)), dest, LIMITS
    )
    assert upload.cpu == 0.5
    assert upload.memory_bytes == 1536 * 2**20
    assert upload.num_accelerators == 1


def test_model_class_from_subclass(tmp_path: Path, dest: Path) -> None:
    code = (
        "import os\n"
        "class Base:\n"
        "    async def predict(self, inputs):\n"
        "        return inputs\n"
        "if os.environ.get('X'):\n"
        "    pass\n"
        "else:\n"
        "    class Model(Base):\n"
        "        def load_model(self):\n"
        "            pass\n"
    )
    upload = load_upload(
        write_folder(tmp_path / "src", model_files(**{"1__model_dot_py": code})), dest, LIMITS
    )
    assert upload.model_class == "Model"


def test_utf8_bom_is_accepted(tmp_path: Path, dest: Path) -> None:
    files = model_files(config_dot_yaml="\ufeff" + CONFIG)
    upload = load_upload(write_folder(tmp_path / "src", files), dest, LIMITS)
    assert (upload.model_id, upload.cpu) == ("sentiment", 1.0)


def test_pack_folder_is_deterministic_and_round_trips(tmp_path: Path, dest: Path) -> None:
    folder = write_folder(tmp_path / "src", model_files())
    first = pack_folder(folder)
    os.utime(folder / "config.yaml", (1, 1))
    (folder / "1" / "model.py").chmod(0o755)
    assert pack_folder(folder) == first
    packed = tmp_path / "packed.tar.gz"
    packed.write_bytes(first)
    upload = load_upload(packed, dest, LIMITS)
    assert upload.content_hash == validate_model_folder(folder).content_hash
    with tarfile.open(packed) as archive:
        assert archive.getnames() == sorted(model_files())
        assert {m.mtime for m in archive.getmembers()} == {0}


def test_content_hash_changes_with_content_and_names(tmp_path: Path) -> None:
    base = validate_model_folder(write_folder(tmp_path / "a", model_files())).content_hash
    changed = validate_model_folder(
        write_folder(tmp_path / "b", model_files(**{"1__lexicon_dot_txt": "good 2\nbad -1\n"}))
    ).content_hash
    renamed_files = model_files(**{"1__lexicon_dot_txt": None})
    renamed_files["1/lexicon2.txt"] = b"good 1\nbad -1\n"
    renamed = validate_model_folder(write_folder(tmp_path / "c", renamed_files)).content_hash
    assert len({base, changed, renamed}) == 3


def test_dest_must_be_empty(tmp_path: Path) -> None:
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    source = make_zip(tmp_path / "m.zip", model_files())
    with pytest.raises(ValueError, match="empty folder"):
        extract_upload(source, dest, LIMITS)
    assert (dest / "keep.txt").read_text() == "mine"


# --------------------------------------------------------------------------- invalid content

BAD_CONTENT = {
    "no config.yaml": (dict(config_dot_yaml=None), "config.yaml", "not found"),
    "bad yaml": (
        dict(config_dot_yaml="model:\n  id: sentiment\n   bad: indent\n"),
        "config.yaml",
        "is not valid YAML at line 3",
    ),
    "unclosed yaml": (
        dict(config_dot_yaml="model:\n  id: x\n  description: [unclosed\n"),
        "config.yaml",
        "starts at line 3",
    ),
    "duplicate key": (
        dict(config_dot_yaml="model:\n  id: a\n  id: b\n"),
        "config.yaml",
        "line 3, column 3: duplicate key 'id'",
    ),
    "yaml alias": (
        dict(config_dot_yaml="model: &m\n  id: a\ninference_compute_info: *m\n"),
        "config.yaml",
        "aliases",
    ),
    "empty config": (dict(config_dot_yaml=""), "config.yaml", "is empty"),
    "top level list": (dict(config_dot_yaml="- model\n"), "config.yaml", "not a list"),
    "no model section": (
        dict(config_dot_yaml="inference_compute_info: {}\n"),
        "config.yaml",
        "'model' section is missing",
    ),
    "model not a mapping": (dict(config_dot_yaml="model: x\n"), "config.yaml", "mapping"),
    "model.id missing": (
        dict(config_dot_yaml="model:\n  description: x\n"),
        "config.yaml",
        "model.id is missing",
    ),
    "model.id not text": (dict(config_dot_yaml="model:\n  id: 123\n"), "config.yaml", "quotes"),
    "model.id invalid": (
        dict(config_dot_yaml="model:\n  id: Bad Id!\n"),
        "config.yaml",
        "model.id 'Bad Id!' is not valid: use 1-64 lowercase letters",
    ),
    "unknown model key": (
        dict(config_dot_yaml="model:\n  id: a\n  foo: 1\n"),
        "config.yaml",
        "unknown key 'model.foo'",
    ),
    "unknown top key": (
        dict(config_dot_yaml="model:\n  id: a\ncheckpoints: {}\n"),
        "config.yaml",
        "unknown key 'checkpoints'",
    ),
    "unknown compute key": (
        dict(config_dot_yaml="model: {id: a}\ninference_compute_info: {gpus: 1}\n"),
        "config.yaml",
        "unknown key 'inference_compute_info.gpus'",
    ),
    "description not text": (
        dict(config_dot_yaml="model:\n  id: a\n  description: [1, 2]\n"),
        "config.yaml",
        "model.description must be text",
    ),
    "negative accelerators": (
        dict(config_dot_yaml="model: {id: a}\ninference_compute_info: {num_accelerators: -1}\n"),
        "config.yaml",
        "num_accelerators must be a whole number",
    ),
    "accelerators not int": (
        dict(config_dot_yaml="model: {id: a}\ninference_compute_info: {num_accelerators: two}\n"),
        "config.yaml",
        "num_accelerators must be a whole number",
    ),
    "python version float": (
        dict(config_dot_yaml="model: {id: a}\nbuild_info: {python_version: 3.11}\n"),
        "config.yaml",
        "put it in quotes",
    ),
    "requests over limit": (
        dict(
            config_dot_yaml=(
                "model: {id: a}\ninference_compute_info: {cpu_limit: 1, cpu_requests: 2}\n"
            )
        ),
        "config.yaml",
        "cpu_requests is more than cpu_limit",
    ),
    "cpu zero": (
        dict(config_dot_yaml="model: {id: a}\ninference_compute_info: {cpu_limit: 0}\n"),
        "config.yaml",
        "must be more than 0",
    ),
    "memory millibytes": (
        dict(config_dot_yaml="model: {id: a}\ninference_compute_info: {cpu_memory: 500m}\n"),
        "config.yaml",
        "did you mean 500M or 500Mi?",
    ),
    "no model.py": ({"1__model_dot_py": None}, "1/model.py", "not found"),
    "model.py is a folder": (
        {"1__model_dot_py": None, "1__model_dot_py__x": "x"},
        "1/model.py",
        "is a folder",
    ),
    "model.py syntax error": (
        {"1__model_dot_py": "class M:\n    def predict(self, inputs)\n        return inputs\n"},
        "1/model.py",
        "syntax error at line 2: expected ':'",
    ),
    "model.py without predict class": (
        {"1__model_dot_py": "def predict(inputs):\n    return inputs\n\nclass M:\n    pass\n"},
        "1/model.py",
        "no class with a predict method",
    ),
    "predict nested in a function": (
        {"1__model_dot_py": "def f():\n    class M:\n        def predict(self, x): ...\n"},
        "1/model.py",
        "no class with a predict method",
    ),
    "two model classes": (
        {
            "1__model_dot_py": "class A:\n    def predict(self, x): ...\n"
            "class B:\n    def predict(self, x): ...\n"
        },
        "1/model.py",
        "several model classes (A, B)",
    ),
    "predict without inputs": (
        {"1__model_dot_py": "class A:\n    def predict(self):\n        return []\n"},
        "1/model.py",
        "line 2: predict must take the inputs",
    ),
    "model.py not utf-8": (
        {"1__model_dot_py": b"# caf\xe9\nclass A:\n    def predict(self, x): ...\n"},
        "1/model.py",
        "is not UTF-8 text (byte 0xe9 on line 1)",
    ),
    "requirement syntax": (
        dict(requirements_dot_txt="numpy>>=1\n"),
        "requirements.txt",
        "line 1: 'numpy>>=1' is not a valid requirement",
    ),
    "requirement index url": (
        dict(requirements_dot_txt="numpy\n--index-url x\n"),
        "requirements.txt",
        "line 2: options such as '--index-url' are not supported",
    ),
    "requirement editable": (
        dict(requirements_dot_txt="-e .\n"),
        "requirements.txt",
        "options such as '-e' are not supported",
    ),
    "requirement include": (
        dict(requirements_dot_txt="# deps\n-r other.txt\n"),
        "requirements.txt",
        "line 2: options such as '-r'",
    ),
    "requirement hash": (
        dict(requirements_dot_txt="numpy==1.26.0 --hash=sha256:abc\n"),
        "requirements.txt",
        "options such as '--hash'",
    ),
    "requirement url": (
        dict(requirements_dot_txt="pkg @ https://example.com/pkg.whl\n"),
        "requirements.txt",
        "refers to a URL",
    ),
    "requirements not utf-8": (
        dict(requirements_dot_txt=b"numpy\n\xff\n"),
        "requirements.txt",
        "line 2",
    ),
}


@pytest.mark.parametrize("kind", ["folder", "zip"])
@pytest.mark.parametrize(("changes", "file", "fragment"), BAD_CONTENT.values(), ids=BAD_CONTENT)
def test_bad_content(
    tmp_path: Path, dest: Path, kind: str, changes: dict, file: str, fragment: str
) -> None:
    files = model_files(**changes)
    if kind == "folder":
        source = write_folder(tmp_path / "src", files)
    else:
        source = make_zip(tmp_path / "m.zip", files)
    expect_error(source, dest, file, fragment)


def test_cpu_limit_message_is_exact(tmp_path: Path, dest: Path) -> None:
    config = CONFIG.replace('cpu_limit: "1"', 'cpu_limit: "2x"')
    source = make_targz(tmp_path / "m.tar.gz", model_files(config_dot_yaml=config))
    error = expect_error(source, dest, "config.yaml", "is not a CPU quantity")
    assert str(error) == (
        "config.yaml: inference_compute_info.cpu_limit: '2x' is not a CPU quantity "
        "(examples: 500m, 2)"
    )


def test_cpu_memory_message(tmp_path: Path, dest: Path) -> None:
    config = CONFIG.replace('cpu_memory: "512Mi"', "cpu_memory: lots")
    source = make_targz(tmp_path / "m.tar.gz", model_files(config_dot_yaml=config))
    error = expect_error(source, dest, "config.yaml", "is not a memory quantity")
    assert str(error).startswith(
        "config.yaml: inference_compute_info.cpu_memory: 'lots' is not a memory quantity"
    )


def test_missing_config_in_nested_folder_keeps_dest_clean(tmp_path: Path, dest: Path) -> None:
    source = make_zip(tmp_path / "m.zip", model_files(config_dot_yaml=None), prefix="m/")
    expect_error(source, dest, "config.yaml", "not found")


def test_config_too_deep_gets_a_hint(tmp_path: Path, dest: Path) -> None:
    source = make_zip(tmp_path / "m.zip", model_files(), prefix="a/b/")
    expect_error(source, dest, "config.yaml", "there is one at a/b/config.yaml")


# --------------------------------------------------------------------------- hostile archives


def zip_with(path: Path, infos: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for rel, data in model_files().items():
                archive.writestr(rel, data)
            for info, data in infos:
                archive.writestr(info, data)
    return path


def test_zip_path_traversal(tmp_path: Path, dest: Path) -> None:
    source = zip_with(tmp_path / "m.zip", [("../evil.py", b"print('owned')")])
    expect_error(source, dest, "../evil.py", "points outside the upload")
    assert not (tmp_path / "evil.py").exists()


def test_zip_deep_traversal(tmp_path: Path, dest: Path) -> None:
    source = zip_with(tmp_path / "m.zip", [("1/../../evil.py", b"x")])
    expect_error(source, dest, "1/../../evil.py", "points outside the upload")


def test_zip_backslash_traversal(tmp_path: Path, dest: Path) -> None:
    source = zip_with(tmp_path / "m.zip", [("..\\evil.py", b"x")])
    expect_error(source, dest, "..\\evil.py", "backslash")


def test_zip_drive_letter(tmp_path: Path, dest: Path) -> None:
    source = zip_with(tmp_path / "m.zip", [("C:/evil.py", b"x")])
    expect_error(source, dest, "C:/evil.py", "drive letter")


def test_zip_absolute_path(tmp_path: Path, dest: Path) -> None:
    source = zip_with(tmp_path / "m.zip", [("/tmp/evil.py", b"x")])
    expect_error(source, dest, "/tmp/evil.py", "absolute path")


def test_zip_symlink(tmp_path: Path, dest: Path) -> None:
    info = zipfile.ZipInfo("1/link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    source = zip_with(tmp_path / "m.zip", [(info, b"/etc/passwd")])
    expect_error(source, dest, "1/link", "symbolic link")


def test_zip_duplicate_member(tmp_path: Path, dest: Path) -> None:
    source = zip_with(tmp_path / "m.zip", [("config.yaml", b"model: {id: other}\n")])
    expect_error(source, dest, "config.yaml", "appears twice")


def test_zip_file_and_folder_clash(tmp_path: Path, dest: Path) -> None:
    source = zip_with(tmp_path / "m.zip", [("config.yaml/x", b"x")])
    expect_error(source, dest, "config.yaml/x", "which is a file")


def tar_member(name: str, kind: bytes, **attrs) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def test_tar_absolute_member(tmp_path: Path, dest: Path) -> None:
    passwd = tarfile.TarInfo("/etc/passwd")
    passwd.size = 0
    source = make_targz(tmp_path / "m.tar.gz", model_files(), extra=[passwd])
    expect_error(source, dest, "/etc/passwd", "absolute path")


def test_tar_traversal(tmp_path: Path, dest: Path) -> None:
    member = tarfile.TarInfo("../../evil.py")
    source = make_targz(tmp_path / "m.tar.gz", model_files(), extra=[member])
    expect_error(source, dest, "../../evil.py", "points outside")


def test_tar_symlink(tmp_path: Path, dest: Path) -> None:
    link = tar_member("1/weights", tarfile.SYMTYPE, linkname="/etc/passwd")
    source = make_targz(tmp_path / "m.tar.gz", model_files(), extra=[link])
    expect_error(source, dest, "1/weights", "symbolic link")


def test_tar_hardlink(tmp_path: Path, dest: Path) -> None:
    link = tar_member("1/weights", tarfile.LNKTYPE, linkname="config.yaml")
    source = make_targz(tmp_path / "m.tar.gz", model_files(), extra=[link])
    expect_error(source, dest, "1/weights", "hard link")


def test_tar_char_device(tmp_path: Path, dest: Path) -> None:
    device = tar_member("1/null", tarfile.CHRTYPE, devmajor=1, devminor=3)
    source = make_targz(tmp_path / "m.tar.gz", model_files(), extra=[device])
    expect_error(source, dest, "1/null", "device file")


def test_tar_fifo(tmp_path: Path, dest: Path) -> None:
    fifo = tar_member("1/pipe", tarfile.FIFOTYPE)
    source = make_targz(tmp_path / "m.tar.gz", model_files(), extra=[fifo])
    expect_error(source, dest, "1/pipe", "named pipe")


def test_folder_symlink(tmp_path: Path, dest: Path) -> None:
    source = write_folder(tmp_path / "src", model_files())
    (source / "1" / "secret").symlink_to("/etc/passwd")
    expect_error(source, dest, "1/secret", "symbolic link")


def test_folder_symlinked_dir(tmp_path: Path, dest: Path) -> None:
    source = write_folder(tmp_path / "src", model_files())
    (source / "etc").symlink_to("/etc", target_is_directory=True)
    expect_error(source, dest, "etc", "symbolic link")


def test_folder_fifo(tmp_path: Path, dest: Path) -> None:
    source = write_folder(tmp_path / "src", model_files())
    os.mkfifo(source / "1" / "pipe")
    expect_error(source, dest, "1/pipe", "named pipe")


def test_validate_refuses_symlinks_directly(tmp_path: Path) -> None:
    source = write_folder(tmp_path / "src", model_files())
    (source / "link").symlink_to(source / "config.yaml")
    with pytest.raises(UploadError, match="symbolic link") as caught:
        validate_model_folder(source)
    assert caught.value.file == "link"


@pytest.mark.parametrize("kind", ["folder", "zip", "tar.gz"])
def test_too_many_files(tmp_path: Path, dest: Path, kind: str) -> None:
    files = model_files()
    files.update({f"1/data/{n}.txt": b"x" for n in range(5)})
    limits = UploadLimits(max_files=6)
    if kind == "folder":
        source, name = write_folder(tmp_path / "model", files), "model"
    elif kind == "zip":
        source, name = make_zip(tmp_path / "model.zip", files), "model.zip"
    else:
        source, name = make_targz(tmp_path / "model.tar.gz", files), "model.tar.gz"
    expect_error(source, dest, name, "has more than 6 files", limits=limits)


def test_too_many_empty_folders(tmp_path: Path, dest: Path) -> None:
    limits = UploadLimits(max_files=10)
    dirs = [tar_member(f"d{n}", tarfile.DIRTYPE) for n in range(200)]
    source = make_targz(tmp_path / "m.tar.gz", model_files(), extra=dirs)
    expect_error(source, dest, "m.tar.gz", "entries", limits=limits)


SMALL = UploadLimits(max_file_bytes=10 * 10**6, max_total_bytes=20 * 10**6)
BOMB = 50 * 10**6


def test_zip_bomb(tmp_path: Path, dest: Path) -> None:
    source = tmp_path / "bomb.zip"
    with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel, data in model_files().items():
            archive.writestr(rel, data)
        with archive.open("1/weights.bin", "w", force_zip64=True) as member:
            chunk = bytes(10**6)
            for _ in range(BOMB // len(chunk)):
                member.write(chunk)
    assert source.stat().st_size < 10**6
    expect_error(source, dest, "1/weights.bin", "unpacks to more than 10MB", limits=SMALL)


def lie_about_size(data: bytes, name: bytes, size: int) -> bytes:
    """Rewrite the uncompressed size of member ``name`` in its local and central headers."""
    patched = bytearray(data)
    local = patched.find(b"PK\x03\x04")
    while local != -1:
        name_len = int.from_bytes(patched[local + 26 : local + 28], "little")
        if patched[local + 30 : local + 30 + name_len] == name:
            patched[local + 22 : local + 26] = size.to_bytes(4, "little")
        local = patched.find(b"PK\x03\x04", local + 4)
    central = patched.find(b"PK\x01\x02")
    while central != -1:
        name_len = int.from_bytes(patched[central + 28 : central + 30], "little")
        if patched[central + 46 : central + 46 + name_len] == name:
            patched[central + 24 : central + 28] = size.to_bytes(4, "little")
        central = patched.find(b"PK\x01\x02", central + 4)
    return bytes(patched)


def test_zip_bomb_with_lying_header(tmp_path: Path, dest: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel, data in model_files().items():
            archive.writestr(rel, data)
        archive.writestr("1/weights.bin", bytes(BOMB))
    source = tmp_path / "bomb.zip"
    source.write_bytes(lie_about_size(buffer.getvalue(), b"1/weights.bin", 1000))
    with pytest.raises(UploadError) as caught:
        load_upload(source, dest, SMALL)
    assert caught.value.file in ("bomb.zip", "1/weights.bin")
    assert_clean(dest)


def test_zip_total_size_limit(tmp_path: Path, dest: Path) -> None:
    files = model_files()
    files.update({f"1/part{n}.bin": bytes(6 * 10**6) for n in range(4)})
    source = make_zip(tmp_path / "big.zip", files)
    expect_error(source, dest, "big.zip", "the limit for a whole upload", limits=SMALL)


def test_tar_bomb(tmp_path: Path, dest: Path) -> None:
    files = model_files()
    files["1/weights.bin"] = bytes(BOMB)
    source = make_targz(tmp_path / "bomb.tar.gz", files)
    expect_error(source, dest, "1/weights.bin", "unpacks to more than 10MB", limits=SMALL)


def test_folder_file_too_big(tmp_path: Path, dest: Path) -> None:
    files = model_files()
    files["1/weights.bin"] = bytes(2000)
    limits = UploadLimits(max_file_bytes=1000)
    source = write_folder(tmp_path / "src", files)
    expect_error(source, dest, "1/weights.bin", "the limit for one file", limits=limits)


def test_archive_too_big(tmp_path: Path, dest: Path) -> None:
    source = make_zip(tmp_path / "m.zip", model_files())
    limits = UploadLimits(max_archive_bytes=100)
    expect_error(source, dest, "m.zip", "the largest accepted archive", limits=limits)


def test_not_an_archive(tmp_path: Path, dest: Path) -> None:
    source = tmp_path / "upload-1234.tmp"
    source.write_bytes(b"\x00" + os.urandom(4095))
    expect_error(
        source, dest, "model.zip", "is not a .zip or .tar.gz archive", filename="model.zip"
    )


def test_browser_path_in_filename(tmp_path: Path, dest: Path) -> None:
    source = tmp_path / "upload.tmp"
    source.write_bytes(b"hello world")
    expect_error(source, dest, "model.zip", "is not a .zip", filename="C:\\fakepath\\model.zip")


def test_empty_archive(tmp_path: Path, dest: Path) -> None:
    source = tmp_path / "empty.zip"
    with zipfile.ZipFile(source, "w"):
        pass
    expect_error(source, dest, "empty.zip", "holds no files")


def weighty_files() -> dict[str, bytes]:
    files = model_files()
    files["1/weights.bin"] = os.urandom(200_000)
    return files


def test_truncated_tar_gz(tmp_path: Path, dest: Path) -> None:
    data = tar_bytes(weighty_files())
    source = tmp_path / "m.tar.gz"
    source.write_bytes(data[: len(data) // 2])
    expect_error(source, dest, "m.tar.gz", "corrupt or truncated")


def test_corrupt_tar_gz(tmp_path: Path, dest: Path) -> None:
    data = bytearray(tar_bytes(weighty_files()))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    source = tmp_path / "m.tar.gz"
    source.write_bytes(bytes(data))
    expect_error(source, dest, "m.tar.gz", "corrupt or truncated")


def test_gzip_that_is_not_a_tar(tmp_path: Path, dest: Path) -> None:
    source = tmp_path / "m.tar.gz"
    source.write_bytes(gzip.compress(b"just some text, not a tar archive\n" * 100))
    expect_error(source, dest, "m.tar.gz", "is not a valid .tar.gz archive")


def test_truncated_zip(tmp_path: Path, dest: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel, data in weighty_files().items():
            archive.writestr(rel, data)
    source = tmp_path / "m.zip"
    source.write_bytes(buffer.getvalue()[:-200])
    expect_error(source, dest, "m.zip", "is not a valid .zip archive")


def test_corrupt_zip_member(tmp_path: Path, dest: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel, data in weighty_files().items():
            archive.writestr(rel, data)
    data = bytearray(buffer.getvalue())
    start = data.find(b"1/weights.bin") + 100
    data[start : start + 64] = bytes(64)
    source = tmp_path / "m.zip"
    source.write_bytes(bytes(data))
    expect_error(source, dest, "m.zip", "corrupt or truncated")


def test_failure_removes_dest_it_created(tmp_path: Path) -> None:
    dest = tmp_path / "new" / "work"
    source = zip_with(tmp_path / "m.zip", [("../evil.py", b"x")])
    with pytest.raises(UploadError):
        load_upload(source, dest, LIMITS)
    assert not dest.exists()


def test_upload_error_pickles() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(UploadError("config.yaml", "model.id is missing")))  # noqa: S301
    assert (error.file, error.message) == ("config.yaml", "model.id is missing")
    assert str(error) == "config.yaml: model.id is missing"


# --------------------------------------------------------------------------- examples

EXAMPLES = sorted(path.parent.name for path in (REPO / "examples").glob("*/config.yaml"))


def test_sentiment_example_validates(tmp_path: Path) -> None:
    folder = REPO / "examples" / "sentiment"
    if not (folder / "config.yaml").exists():
        pytest.skip("examples/sentiment is not there yet")
    upload = load_upload(folder, tmp_path / "work", LIMITS)
    assert upload.model_id == "sentiment"
    assert "1/model.py" in upload.files


@pytest.mark.parametrize("name", EXAMPLES or ["(none)"])
def test_examples_validate(tmp_path: Path, name: str) -> None:
    if name == "(none)":
        pytest.skip("no examples yet")
    folder = REPO / "examples" / name
    upload = validate_model_folder(folder)
    packed = tmp_path / f"{name}.tar.gz"
    packed.write_bytes(pack_folder(folder))
    assert load_upload(packed, tmp_path / "work", LIMITS).content_hash == upload.content_hash
