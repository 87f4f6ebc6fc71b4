"""The converter process shared by the conversion tests (samples come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from registry.convert import Converter


@pytest.fixture(scope="session")
def converter() -> Iterator[Converter]:
    """The converter process shared by the tests that expect it to survive."""
    with Converter(timeout_seconds=300) as shared:
        yield shared
