"""The state folder (`ORCHESTRATION_VAR_DIR`, default `var/`): made once, read by settings.

Settings only read: importing them must not write to disk (a read-only deploy, a `check`
in CI, a second process racing the first). This step creates the folder, the per-install
secret key and what the file-system broker needs; the run command, the test command and
the benchmarks call it before anything else. It imports nothing from the project.

    python -m orchestration.var_dir        # prepares $ORCHESTRATION_VAR_DIR or var/
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY_FILE_NAME = "secret_key"
FILESYSTEM_BROKER_FOLDERS = ("queue", "processed", "control")


def default_var_dir() -> Path:
    return Path(os.environ.get("ORCHESTRATION_VAR_DIR") or ROOT / "var")


def prepare(var_dir: Path) -> Path:
    """Create the state folder and, once, its secret key; safe to run again."""
    var_dir.mkdir(parents=True, exist_ok=True)
    (var_dir / "staticfiles").mkdir(exist_ok=True)
    # A fresh checkout must run without setup, but a key in the source would be shared by
    # every install: generate one per install and keep it beside the SQLite default.
    key_file = var_dir / KEY_FILE_NAME
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(50))
    if os.environ.get("CELERY_BROKER_URL", "").startswith("filesystem://"):
        for name in FILESYSTEM_BROKER_FOLDERS:
            (var_dir / "broker" / name).mkdir(parents=True, exist_ok=True)
    return var_dir


if __name__ == "__main__":
    print(f"[var] state folder ready: {prepare(default_var_dir())}", file=sys.stderr)
