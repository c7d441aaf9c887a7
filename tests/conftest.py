"""Shared test fixtures. Real data lives in ../shared/data beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("HUMANPARSE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder. Missing: skipped with a clear reason, or a failure where
    HUMANPARSE_REQUIRE_SHARED_DATA=1 (CI) says it must be there."""
    if not SHARED_DATA.is_dir():
        message = (
            f"real test data not found at {SHARED_DATA} "
            "(set HUMANPARSE_SHARED_DATA to the folder holding ccp/, lip_cihp_samples/ and pose/)"
        )
        if os.environ.get("HUMANPARSE_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DATA
