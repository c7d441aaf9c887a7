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


def test_the_configs_pixel_limit_reaches_the_readers(small_synth_root) -> None:
    from humanparse.config import load_config
    from humanparse.data.image_io import DataError
    from humanparse.engine.data import open_split

    data = load_config(None, [f"data.root={small_synth_root}", "data.max_pixels=4095"])["data"]
    reader, _ = open_split(data, "train_split", "train_ids")
    with pytest.raises(DataError, match="image is 64x64 pixels .* over the limit of 4,095"):
        reader[0]
    data["max_pixels"] = 4096
    assert open_split(data, "train_split", "train_ids")[0][0].image.shape == (64, 64, 3)
