"""How big an upload may be, and sizes written the way the limit messages write them."""

from __future__ import annotations

from dataclasses import dataclass

from orchestration.quantities import format_memory

MiB = 2**20

# Text files read whole into memory: config.yaml and requirements.txt.
MAX_TEXT_FILE_BYTES = MiB


@dataclass(frozen=True)
class UploadLimits:
    """How big an upload may be. Sizes in bytes; file counts exclude folders."""

    max_files: int = 1000
    max_total_bytes: int = 500 * MiB  # all files together, unpacked
    max_file_bytes: int = 200 * MiB  # one file, unpacked
    max_archive_bytes: int = 200 * MiB  # the .zip / .tar.gz as uploaded

    @property
    def max_entries(self) -> int:
        """Entries of any kind (files, folders, skipped junk) an archive may list."""
        return 2 * self.max_files + 64


def size_text(num_bytes: int) -> str:
    """'10MB', '1MiB' or '512 bytes'."""
    text = format_memory(num_bytes)
    return f"{text}B" if text[-1].isalpha() else f"{text} bytes"


def total_too_big(limits: UploadLimits) -> str:
    return f"unpacks to more than {size_text(limits.max_total_bytes)}, the limit for a whole upload"
