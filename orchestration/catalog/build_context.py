"""Turn an uploaded model folder into a Docker build context for its image.

Pure Python on purpose: no Docker SDK and no Django, so the same code serves Celery
build tasks, the CLI and tests, and it takes plain paths and strings.

Images are built offline: the base image (scripts/build-base-image) has Debian's
CPython 3.11 and no pip, and build hosts may lack registry access. So the model's pip
requirements are downloaded as wheels *on this host* for the image's interpreter and
platform, installed here into a plain directory, and copied into the image as
/model/site-packages, which the runner puts on sys.path.

Typical use::

    digest = content_hash(model_dir, base_image)
    tag = image_tag(model_id, version_id, digest)
    if not image_exists(url, tag):                      # orchestration.docker_engine
        site = prepare_site_packages(model_dir / "requirements.txt", work_dir)
        context, digest = make_build_context(model_dir, base_image, site_packages_dir=site)
        build_image(url, context, tag, labels)
"""

from __future__ import annotations

import hashlib
import io
import os
import platform as _platform
import re
import shutil
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

#: The runner copied into every image as /opt/runner/server.py, with its sibling modules
#: (`runner_*.py` beside it) in the same folder.
RUNNER_PATH = Path(__file__).resolve().parent.parent / "runner" / "server.py"

#: Where things live inside the image; the runner's CLI arguments match.
MODEL_DIR_IN_IMAGE = "/model"
RUNNER_DIR_IN_IMAGE = "/opt/runner"
RUNNER_IN_IMAGE = f"{RUNNER_DIR_IN_IMAGE}/server.py"
CONTAINER_PORT = 8080
#: Unprivileged, with no entry in the image's /etc/passwd: replicas own nothing on disk.
RUNTIME_USER = "10001:10001"

#: The interpreter of the base image: Debian bookworm's CPython 3.11 on glibc 2.36.
TARGET_PYTHON = "3.11"
TARGET_GLIBC = (2, 36)

#: Bumped whenever the Dockerfile or context layout changes, so existing tags built
#: from the old layout are not reused for the new one.
CONTEXT_FORMAT = "2"

# Upload litter that never belongs in an image and must not change the content hash.
IGNORED_NAMES = {"__pycache__", ".git", ".hg", ".svn", ".DS_Store", ".ipynb_checkpoints"}
IGNORED_SUFFIXES = (".pyc", ".pyo")

# Fixed metadata makes the context byte-identical across runs and hosts, which keeps
# Docker's layer cache warm. 2000-01-01: some tools treat mtime 0 as "unknown".
FIXED_MTIME = 946684800

PIP_TIMEOUT_SECONDS = 900


class BuildError(Exception):
    """Preparing an image failed; `log` holds the tool output a user needs to fix it."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.log = log

    def __str__(self) -> str:
        return self.message


# Wheels ---------------------------------------------------------------------------------


def _machine(arch: str | None) -> str:
    machine = (arch or _platform.machine()).lower()
    # Wheel tags name architectures the way Linux uname does.
    return {"amd64": "x86_64", "arm64": "aarch64", "x64": "x86_64"}.get(machine, machine)


def target_platforms(arch: str | None = None, glibc: tuple[int, int] = TARGET_GLIBC) -> list[str]:
    """Wheel platform tags the base image can run, newest first.

    pip does not expand `manylinux_2_X` to older glibc levels by itself (it only expands
    the legacy manylinux2014/2010 aliases), so every compatible level is listed.
    """
    machine = _machine(arch)
    major, minor = glibc
    tags = [f"manylinux_{major}_{m}_{machine}" for m in range(minor, 16, -1)]
    tags.append(f"manylinux2014_{machine}")
    if machine in {"x86_64", "i686"}:
        tags += [f"manylinux_2_{m}_{machine}" for m in range(16, 4, -1)]
        tags += [f"manylinux2010_{machine}", f"manylinux1_{machine}"]
    return tags


def _pip_target_args(python_version: str, platforms: Sequence[str]) -> list[str]:
    abi = "cp" + python_version.replace(".", "")
    args = [
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--abi",
        abi,
    ]
    for tag in platforms:
        args += ["--platform", tag]
    return args


def _run_pip(args: list[str], what: str, timeout: float) -> str:
    command = [
        sys.executable,
        "-m",
        "pip",
        *args,
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            # A user-level pip.conf forcing e.g. --user would break --target installs.
            env={**os.environ, "PIP_USER": "0", "PYTHONNOUSERSITE": "1"},
        )
    except subprocess.TimeoutExpired as exc:
        partial = (exc.stdout or "") + (exc.stderr or "")
        if isinstance(partial, bytes):
            partial = partial.decode("utf-8", "replace")
        raise BuildError(f"{what} timed out after {timeout:.0f}s", partial) from None
    log = "$ " + " ".join(command) + "\n" + done.stdout + done.stderr
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BuildError(f"{what} failed: {tail}", log)
    return log


def download_wheels(
    requirements_file: Path,
    dest: Path,
    *,
    python_version: str = TARGET_PYTHON,
    platforms: Sequence[str] | None = None,
    arch: str | None = None,
    timeout: float = PIP_TIMEOUT_SECONDS,
) -> str:
    """Download wheels for the requirements and all their dependencies into `dest`.

    Runs on the build host (the image has no pip and nodes may have no network). Wheels
    only (`--only-binary=:all:`): a source build here would target the host, not the
    image. Platform tags default to those of the base image on this machine's
    architecture (`arch` overrides it for another engine's). Returns pip's output;
    raises BuildError with it when pip fails, e.g. a package without a cp311 wheel.
    """
    dest.mkdir(parents=True, exist_ok=True)
    tags = list(platforms) if platforms else target_platforms(arch)
    args = ["download", "-r", str(requirements_file), "--dest", str(dest)]
    return _run_pip(
        args + _pip_target_args(python_version, tags), "downloading requirements", timeout
    )


def install_wheels_to_target(
    wheel_dir: Path,
    target_dir: Path,
    requirements_file: Path | None = None,
    *,
    python_version: str = TARGET_PYTHON,
    platforms: Sequence[str] | None = None,
    arch: str | None = None,
    timeout: float = PIP_TIMEOUT_SECONDS,
) -> str:
    """Install downloaded wheels into `target_dir`, the future /model/site-packages.

    Offline (`--no-index --find-links wheel_dir`). With `requirements_file` pip resolves
    the requirements again against the wheel dir, so stray wheels there are ignored;
    without it every wheel in `wheel_dir` is installed as is (`--no-deps`: download
    already resolved them). Bytecode is then precompiled when this interpreter matches
    the image's, see `compile_bytecode`. Returns pip's output; raises BuildError.
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    tags = list(platforms) if platforms else target_platforms(arch)
    args = [
        "install",
        "--no-index",
        "--find-links",
        str(wheel_dir),
        "--target",
        str(target_dir),
        "--no-compile",
        "--no-warn-script-location",
        "--ignore-installed",
        "--upgrade",
    ]
    if requirements_file is not None:
        args += ["-r", str(requirements_file)]
    else:
        wheels = sorted(str(p) for p in Path(wheel_dir).glob("*.whl"))
        if not wheels:
            return "no wheels to install\n"
        args += ["--no-deps", *wheels]
    log = _run_pip(args + _pip_target_args(python_version, tags), "installing wheels", timeout)
    # Console scripts carry this host's interpreter path in their shebang; useless there.
    shutil.rmtree(target_dir / "bin", ignore_errors=True)
    return log + compile_bytecode(target_dir, python_version=python_version)


def compile_bytecode(directory: Path, *, python_version: str = TARGET_PYTHON) -> str:
    """Precompile .pyc files that the image's interpreter will use without checking.

    Replicas run with a read-only root filesystem and PYTHONDONTWRITEBYTECODE, so
    without this every start recompiles numpy/scipy in memory (seconds per replica).
    Unchecked-hash pycs are valid regardless of file mtimes, which the build context
    normalises, and are deterministic. Skipped when this interpreter's bytecode would
    not match the image's (a different minor version).
    """
    if f"{sys.version_info[0]}.{sys.version_info[1]}" != python_version:
        return f"bytecode not precompiled: host Python is not {python_version}\n"
    command = [
        sys.executable,
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        str(directory),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    # A module that does not compile (py2 leftovers in tests folders) is not fatal:
    # Python compiles it, or fails on it, at import time as usual.
    return "$ " + " ".join(command) + "\n" + done.stdout + done.stderr


def prepare_site_packages(
    requirements_file: Path,
    work_dir: Path,
    *,
    python_version: str = TARGET_PYTHON,
    arch: str | None = None,
) -> tuple[Path | None, str]:
    """Download and install a model's requirements; returns (site-packages dir, log).

    (None, "") when there is no requirements file or it names nothing. `work_dir` is
    emptied first so wheels from an earlier run cannot leak into this one.
    """
    if not requirements_file.is_file() or not _has_requirements(requirements_file):
        return None, ""
    shutil.rmtree(work_dir, ignore_errors=True)
    wheels, site = work_dir / "wheels", work_dir / "site-packages"
    log = download_wheels(requirements_file, wheels, python_version=python_version, arch=arch)
    log += install_wheels_to_target(
        wheels, site, requirements_file, python_version=python_version, arch=arch
    )
    return site, log


def _has_requirements(requirements_file: Path) -> bool:
    for line in requirements_file.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            return True
    return False


# Context --------------------------------------------------------------------------------


def _walk(root: Path) -> Iterator[Path]:
    """Files, symlinks and directories under root, sorted, without upload litter."""
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name in IGNORED_NAMES or entry.name.endswith(IGNORED_SUFFIXES):
            continue
        yield entry
        if entry.is_dir() and not entry.is_symlink():
            yield from _walk(entry)


def _checked_link(path: Path, root: Path) -> str:
    # An upload's symlink to /etc/shadow would otherwise copy a host file into an image.
    target = os.readlink(path)
    resolved = (path.parent / target).resolve()
    if os.path.isabs(target) or not resolved.is_relative_to(root.resolve()):
        raise BuildError(f"symlink {path.relative_to(root)} points outside the model folder")
    return target


def model_files(model_dir: Path) -> list[tuple[str, Path]]:
    """(relative posix path, path) of every file that goes into the image, sorted."""
    files = []
    for path in _walk(model_dir):
        if path.is_symlink():
            _checked_link(path, model_dir)
        if path.is_file() or path.is_symlink():
            files.append((path.relative_to(model_dir).as_posix(), path))
    return files


def runner_files(runner_path: Path | None = None) -> list[tuple[str, bytes]]:
    """(file name, content) of the runner: its server script and the `runner_*.py`
    modules beside it, in a fixed order."""
    server = Path(runner_path or RUNNER_PATH)
    siblings = sorted(server.parent.glob("runner_*.py"))
    return [(path.name, path.read_bytes()) for path in (server, *siblings)]


def content_hash(model_dir: Path, base_image: str, runner_path: Path | None = None) -> str:
    """sha256 over what determines an image: model files, runner, base image, layout.

    Stable across runs and hosts (paths are relative, sorted, and only content counts),
    so an unchanged upload maps to the same image tag and is not rebuilt. Installed
    site-packages are not hashed: they follow from requirements.txt, which is.
    """
    model_dir = Path(model_dir)
    digest = hashlib.sha256()

    def field(label: str, data: bytes) -> None:
        # Length-prefixed, so no two different inputs produce the same byte stream.
        digest.update(f"{label}:{len(data)}\n".encode())
        digest.update(data)

    field("format", CONTEXT_FORMAT.encode())
    field("base", base_image.encode())
    for name, data in runner_files(runner_path):
        field("runner", name.encode())
        field("runner-file", data)
    for rel, path in model_files(model_dir):
        if path.is_symlink():
            field("link", f"{rel}->{os.readlink(path)}".encode())
            continue
        field("path", rel.encode())
        field("mode", b"x" if path.stat().st_mode & stat.S_IXUSR else b"-")
        field("file", path.read_bytes())
    return digest.hexdigest()


def dockerfile(base_image: str, digest: str, *, with_site_packages: bool) -> str:
    """The Dockerfile of a model image."""
    site = "COPY site-packages/ /model/site-packages/\n" if with_site_packages else ""
    health = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{CONTAINER_PORT}/healthz', timeout=2)"
    )
    return (
        f"FROM {base_image}\n"
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp "
        f"MODEL_DIR={MODEL_DIR_IN_IMAGE} PORT={CONTAINER_PORT}\n"
        f"COPY runner/ {RUNNER_DIR_IN_IMAGE}/\n"
        # Dependencies first: they change less often than model code, so the large
        # layer is reused when only the model changes.
        f"{site}"
        f"COPY model/ {MODEL_DIR_IN_IMAGE}/\n"
        f"WORKDIR {MODEL_DIR_IN_IMAGE}/1\n"
        f"LABEL org.orchestration.content-hash={digest}\n"
        # Files stay root-owned and read-only to the model: it cannot rewrite its code.
        f"USER {RUNTIME_USER}\n"
        f"EXPOSE {CONTAINER_PORT}\n"
        "HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 "
        f'CMD ["python3", "-c", "{health}"]\n'
        f'CMD ["python3", "{RUNNER_IN_IMAGE}", "--model-dir", "{MODEL_DIR_IN_IMAGE}", '
        f'"--port", "{CONTAINER_PORT}"]\n'
    )


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = _tarinfo(name, tarfile.REGTYPE, mode)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _tarinfo(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_tree(tar: tarfile.TarFile, root: Path, prefix: str) -> None:
    tar.addfile(_tarinfo(prefix, tarfile.DIRTYPE, 0o755))
    for path in _walk(root):
        name = f"{prefix}/{path.relative_to(root).as_posix()}"
        if path.is_symlink():
            info = _tarinfo(name, tarfile.SYMTYPE, 0o777)
            info.linkname = _checked_link(path, root)
            tar.addfile(info)
        elif path.is_dir():
            tar.addfile(_tarinfo(name, tarfile.DIRTYPE, 0o755))
        elif path.is_file():
            # Keep the executable bit only; everything else is normalised.
            executable = path.stat().st_mode & stat.S_IXUSR
            info = _tarinfo(name, tarfile.REGTYPE, 0o755 if executable else 0o644)
            info.size = path.stat().st_size
            with path.open("rb") as handle:
                tar.addfile(info, handle)
        # Sockets, fifos and devices are skipped: nothing a model can ship.


def write_build_context(
    fileobj: IO[bytes],
    model_dir: Path,
    base_image: str,
    runner_path: Path | None = None,
    site_packages_dir: Path | None = None,
) -> str:
    """Write the build context as an uncompressed tar to `fileobj`; returns content hash.

    For large site-packages this avoids holding the whole context in memory.
    Uncompressed because the engine is usually local and gzip would cost more CPU
    than the bytes it saves.
    """
    model_dir = Path(model_dir)
    if not (model_dir / "1" / "model.py").is_file():
        raise BuildError(f"{model_dir} has no 1/model.py")
    digest = content_hash(model_dir, base_image, runner_path)
    if site_packages_dir is not None and not Path(site_packages_dir).is_dir():
        raise BuildError(f"site-packages dir {site_packages_dir} does not exist")
    site = Path(site_packages_dir) if site_packages_dir is not None else None
    with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(
            tar,
            "Dockerfile",
            dockerfile(base_image, digest, with_site_packages=site is not None).encode(),
        )
        _add_bytes(tar, ".dockerignore", b"")
        tar.addfile(_tarinfo("runner", tarfile.DIRTYPE, 0o755))
        for name, data in runner_files(runner_path):
            _add_bytes(tar, f"runner/{name}", data)
        _add_tree(tar, model_dir, "model")
        if site is not None:
            _add_tree(tar, site, "site-packages")
    return digest


def make_build_context(
    model_dir: Path,
    base_image: str,
    runner_path: Path | None = None,
    site_packages_dir: Path | None = None,
) -> tuple[bytes, str]:
    """The Docker build context (tar bytes) of a model image, and its content hash.

    Layout: Dockerfile, runner/ (server.py and its modules), model/ (the upload),
    site-packages/ (installed
    requirements, when given). Entries are sorted, with fixed mtimes and owners, so the
    same inputs give the same bytes.
    """
    buffer = io.BytesIO()
    digest = write_build_context(buffer, model_dir, base_image, runner_path, site_packages_dir)
    return buffer.getvalue(), digest


_REPO_INVALID = re.compile(r"[^a-z0-9._-]+")
_TAG_INVALID = re.compile(r"[^A-Za-z0-9_.-]+")


def image_tag(model_id: str, version_id: str, content_hash: str) -> str:
    """`orchestration/<model_id>:<version_id>-<hash[:12]>`, made valid for Docker.

    Docker repositories are lowercase [a-z0-9._-] and tags at most 128 characters; the
    hash suffix keeps tags of different content apart even if ids are reused.
    """
    repo = _REPO_INVALID.sub("-", str(model_id).lower()).strip("._-") or "model"
    version = _TAG_INVALID.sub("-", str(version_id)).strip(".-") or "v"
    suffix = f"-{content_hash[:12]}"
    return f"orchestration/{repo}:{version[: 128 - len(suffix)]}{suffix}"
