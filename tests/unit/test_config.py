"""Configs: defaults, file, overrides, and clear errors; every shipped config loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CONFIGS
from humanparse.config import DEFAULTS, ConfigError, load_config, parse_override

SHIPPED = sorted(CONFIGS.glob("*/*.yaml"))


def test_overrides_are_read_as_yaml():
    assert parse_override("train.lr=0.02") == (["train", "lr"], 0.02)
    assert parse_override("data.input_size=[64, 96]") == (["data", "input_size"], [64, 96])
    assert parse_override("train.resume=last") == (["train", "resume"], "last")
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("train.lr")


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: deeplab, backbone: resnet18}\ntrain: {lr: 0.5}\ndata: {root: here}\n")
    (tmp_path / "here").mkdir()
    config = load_config(path, ["train.lr=0.1", "model.output_stride=8", "data.augment.flip=0.0"])
    assert config["train"]["lr"] == 0.1
    assert config["model"] == {"name": "deeplab", "backbone": "resnet18", "output_stride": 8}
    assert config["data"]["augment"]["flip"] == 0.0
    assert config["data"]["augment"]["scale"] == DEFAULTS["data"]["augment"]["scale"]
    assert Path(config["data"]["root"]) == tmp_path / "here"  # relative to the config file


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lrate=1", "unknown config key 'train.lrate'"),
        ("data.input_size=[64]", "input_size"),
        ("train.optimizer=adam", "sgd' or 'adamw"),
        ("eval.absent=never", "eval.absent"),
        ("data=3", "must be a mapping"),
        ("data.max_pixels=0", "data.max_pixels must be a positive number"),
        ("data.max_pixels=1.5e8", "data.max_pixels must be a positive number"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_unreadable_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("path", SHIPPED, ids=[f"{p.parent.name}/{p.name}" for p in SHIPPED])
def test_shipped_configs_load_and_build(path):
    from humanparse.engine.train import complete_spec
    from humanparse.models import build_model
    from humanparse.schemas import LIP, LIP_JOINTS

    config = load_config(path)
    spec = {**complete_spec(config["model"], LIP, LIP_JOINTS), "pretrained": None}
    if config["model"]["backbone"] in ("resnet101", "resnet50"):
        spec["base_width"] = 8  # the layout is what is checked here, not the width
    build_model(spec)


# ----------------------------------------------------------------------------- the loss list


def test_loss_list_overrides_by_type_and_index():
    two_phases = "loss=[{type: cross_entropy, stop_epoch: 3}, {type: structure_sensitive, start_epoch: 3}]"
    config = load_config(None, [two_phases, "loss.structure_sensitive.per_output=true", "loss.0.aux_weight=0.5"])
    assert config["loss"] == [
        {"type": "cross_entropy", "stop_epoch": 3, "aux_weight": 0.5},
        {"type": "structure_sensitive", "start_epoch": 3, "per_output": True},
    ]
    with pytest.raises(ConfigError, match="no 'heatmap_l2' entry"):
        load_config(None, [two_phases, "loss.heatmap_l2.sigma_px=4"])
    with pytest.raises(ConfigError, match="no loss list"):
        load_config(None, ["loss.cross_entropy.weight=2"])


@pytest.mark.parametrize(
    "loss, message",
    [
        ("[]", "non-empty list"),
        ("[{weight: 1}]", "with a 'type'"),
        ("[{type: focal}]", "unknown loss type 'focal'"),
        ("[{type: cross_entropy, weight: -1}]", "weight must be a number >= 0"),
        ("[{type: cross_entropy, start_epoch: 1.5}]", "start_epoch must be an integer"),
        ("[{type: cross_entropy, start_epoch: 4, stop_epoch: 2}]", "must be after start_epoch"),
        ("[{type: heatmap_l2, sigma: 4}]", "heatmap_l2 takes no option 'sigma'; known: .*sigma_px"),
    ],
)
def test_bad_loss_entries_name_the_entry(loss, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [f"loss={loss}"])


@pytest.mark.parametrize(
    "legacy",
    [
        "train.structure_loss={enabled: true, start_epoch: 30, sigma: 1.0, per_output: true}",
        "train.heatmap={sigma: 6.0, occluded_weight: 0.5}",
        "train.parsing_weight=2.0",
        "train.pose_weight=0.5",
        "train.aux_weight=0.4",
    ],
)
def test_a_loss_key_of_the_earlier_form_says_how_to_write_it(legacy):
    with pytest.raises(ConfigError, match="no longer a train key") as error:
        load_config(None, [legacy])
    # The message's suggestion is itself a loss list that loads (where it is a whole list).
    suggestion = str(error.value).split("Write: ")[1]
    if suggestion.startswith("loss: [{"):
        config = load_config(None, ["loss=" + suggestion.removeprefix("loss: ")])
        assert config["loss"][-1]["type"] == "structure_sensitive"
        assert config["loss"][-1]["per_output"] is True and config["loss"][0]["stop_epoch"] == 30


def test_a_config_file_of_the_earlier_form_fails_naming_the_file(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("model: {name: deeplab}\ntrain: {structure_loss: {enabled: true, start_epoch: 5}}\n")
    with pytest.raises(ConfigError, match=r"old.yaml: 'train.structure_loss' is no longer.*start_epoch: 5"):
        load_config(path)
