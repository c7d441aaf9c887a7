"""Shared test fixtures: the real data (in ../shared/data beside the checkout) and the synthetic
datasets, each written once per session, and the toy model registered by name; the plain
helpers are in helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import humanparse.models
from helpers import ToyParser, synthetic_humans

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


# Synthetic datasets are written once per session and only read by the tests (training writes
# into each test's own tmp_path), so tests in different files share them.


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """200 uncluttered synthetic people at 64x64 (seed 3): what the learning tests train on."""
    return synthetic_humans(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="session")
def synth_pose_root(tmp_path_factory) -> Path:
    """200 uncluttered synthetic people at 96x96 (seed 5): what the joint-training tests train on."""
    return synthetic_humans(tmp_path_factory.mktemp("synth_pose"), seed=5, size=96)


@pytest.fixture(scope="session")
def small_synth_root(tmp_path_factory) -> Path:
    """24 synthetic people at 64x64 (seed 1): for one-epoch runs and for commands that fail
    before they train."""
    return synthetic_humans(tmp_path_factory.mktemp("synth_small"), count=24, seed=1)


@pytest.fixture
def toy_model(monkeypatch: pytest.MonkeyPatch) -> str:
    """helpers.ToyParser registered in humanparse.models.MODELS for one test, so that model files
    of it save and load; gives the name to put in their spec."""
    monkeypatch.setitem(humanparse.models.MODELS, "toy", ToyParser)
    return "toy"


@pytest.fixture
def toy_model_dir(toy_model: str, tmp_path: Path) -> Path:
    """A saved model file of the toy parser over PASCAL-Person-Part's classes at input 32x32."""
    from humanparse.inference.model_file import save_model
    from humanparse.schemas import PASCAL_PERSON_PART

    schema = PASCAL_PERSON_PART
    return save_model(
        tmp_path / "model", ToyParser(schema.num_classes).eval(), {"name": toy_model, "num_classes": schema.num_classes},
        schema, (32, 32),
    )
