import pytest

from tests.api.support import (  # noqa: F401 - fixtures
    anon_api,
    compute,
    fast_password_hasher,
    other_api,
    other_key,
    owner_api,
    owner_key,
    queued_tasks,
    ready_model,
)


@pytest.fixture
def orchestrate(live_server, monkeypatch, capsys):
    """orchestrate(*argv, key=KEY) -> (exit code, stdout, stderr) of the CLI, run in this
    process against the live server."""
    from orchestration import cli

    monkeypatch.setenv("ORCHESTRATE_URL", live_server.url)

    def run(*argv: str, key: str | None):
        if key is None:
            monkeypatch.delenv("ORCHESTRATE_KEY", raising=False)
        else:
            monkeypatch.setenv("ORCHESTRATE_KEY", key)
        capsys.readouterr()
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
