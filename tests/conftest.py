"""Shared fixtures: the real data folder and float64 set-up."""

import os
from pathlib import Path

import keras
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """../shared/data from the repo root, or $KERAS_RELEVANCE_DATA."""
    return Path(os.environ.get("KERAS_RELEVANCE_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if not (path / "sst").is_dir():
        pytest.skip(f"real data not found at {path} (set KERAS_RELEVANCE_DATA)")
    return path


@pytest.fixture
def float64():
    """Build layers in float64 for the duration of a test."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def pytest_collection_modifyitems(config, items):
    """`slow` tests run only with KR_SLOW=1 (deep profiles); CI runs the fast profile."""
    if os.environ.get("KR_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow profile: set KR_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
