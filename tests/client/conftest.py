"""A RegistryClient for the live registry, with the fixture's token once the API requires one."""

from __future__ import annotations

import pytest

from registry.client import RegistryClient


@pytest.fixture
def client(registry):
    with RegistryClient(registry.url, getattr(registry, "token", None)) as client:
        yield client
