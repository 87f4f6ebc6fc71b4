"""The converter process shared by the conversion tests, and the samples of real model shapes.

The small samples of every kind come from tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from registry.convert import Converter
from registry.testing import tf_samples


@pytest.fixture(scope="session")
def converter() -> Iterator[Converter]:
    """The converter process shared by the tests that expect it to survive."""
    with Converter(timeout_seconds=300) as shared:
        yield shared


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> tf_samples.BuiltOnDemand:
    """Recurrent, TF1-control, tf.Example and keras.applications samples, built on first use."""
    return tf_samples.BuiltOnDemand(tmp_path_factory.mktemp("models"))
