"""The one exception every upload check raises."""

from __future__ import annotations


class UploadError(Exception):
    """A problem with an upload: ``file`` is where (path inside the upload or the archive
    name), ``message`` what is wrong. ``str()`` is "config.yaml: model.id is missing"."""

    def __init__(self, file: str, message: str) -> None:
        super().__init__(file, message)
        self.file = file
        self.message = message

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"
