"""The data module's id selection and its sampler (shuffled per epoch, repeatable per seed)."""

from __future__ import annotations

import pytest

from humanparse.engine.data import ShardedSampler, select_ids


def test_id_selection():
    ids = [f"{i:04d}" for i in range(1, 11)]
    assert select_ids(ids, None) == list(range(10))
    assert select_ids(ids, "0003-0005") == [2, 3, 4]
    assert select_ids(ids, ["0010", "0001"]) == [9, 0]
    with pytest.raises(ValueError, match="no sample id"):
        select_ids(ids, "0100-0200")
    with pytest.raises(ValueError, match="not in the dataset"):
        select_ids(ids, ["0001", "9999"])


def test_sampler_reshuffles_per_epoch_and_repeats_per_seed():
    a, b = ShardedSampler(20, shuffle=True, seed=1, with_epoch=True), ShardedSampler(20, shuffle=True, seed=1, with_epoch=True)
    first = list(a)
    assert first == list(b)
    assert sorted(i for _, i in first) == list(range(20))
    assert {e for e, _ in first} == {0}
    a.set_epoch(1)
    second = list(a)
    assert [i for _, i in second] != [i for _, i in first]
    assert {e for e, _ in second} == {1}
    assert list(ShardedSampler(5, shuffle=False)) == [0, 1, 2, 3, 4]
