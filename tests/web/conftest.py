"""The shared web helpers' tests are plain Python: no Django, no database.

They run with ``pytest -p no:django tests/web`` as well as in the full suite.
"""

import sys
from pathlib import Path

import pytest

# The repository root, for when the editable install's path mapping is missing.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(autouse=True)
def _media_root():
    """Override the suite-wide autouse fixture, which needs pytest-django's ``settings``."""


@pytest.fixture(autouse=True)
def _no_rate_limits():
    """Override the suite-wide autouse fixture, which needs pytest-django's ``settings``."""


@pytest.fixture(scope="session", autouse=True)
def _no_containers_from_earlier_runs():
    """Override the suite-wide clean-up of leftover containers, which imports Django."""
