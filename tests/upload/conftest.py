"""tests/upload is plain Python (no Django), runnable with `pytest -p no:django tests/upload`."""

import pytest


@pytest.fixture(autouse=True)
def _media_root():
    """Shadows the autouse fixture of tests/conftest.py, which needs pytest-django."""
