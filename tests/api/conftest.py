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
