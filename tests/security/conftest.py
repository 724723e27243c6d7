"""The real daphne server for the attacks that need one (log-ins, websockets).

tests/integration/conftest.py offers its fixtures only to its own folder: they are imported here,
with the rule that folder applies (without PostgreSQL and Redis a real-server test is skipped, in
CI it fails).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_django.fixtures import Settings

from tests.integration.conftest import asgi_server, integration_env  # noqa: F401
from tests.integration.processes import services_problem, skip_or_fail


@pytest.fixture
def real_server(request: pytest.FixtureRequest, transactional_db: None, settings: Settings) -> Callable[..., str]:
    """Starts daphne (bin/serve's command) on the test database and Redis: call it for a base URL."""
    if problem := services_problem():
        skip_or_fail(problem)
    # The servers check passwords with the default hashers, of which scrypt is the fast one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.ScryptPasswordHasher"]
    start: Callable[..., str] = request.getfixturevalue("asgi_server")
    return start
