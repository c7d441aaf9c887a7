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
        ("train.optimizer=adam", "'sgd', 'adamw', 'rmsprop'"),
        ("train.lr_milestones=[5, 3]", "increasing list"),
        ("train.lr_gamma=0", "lr_gamma"),
        ("eval.absent=never", "eval.absent"),
        ("eval.top_down=maybe", "eval.top_down: expected true or false"),
        ("data=3", "must be a mapping"),
        ("data.max_pixels=0", "data.max_pixels: expected a positive number of pixels"),
        ("data.max_pixels=1.5e8", "data.max_pixels: expected a positive number of pixels"),
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
    if config["model"].get("backbone") in ("resnet101", "resnet50"):
        spec["base_width"] = 8  # the layout is what is checked here, not the width
    build_model(spec)


def test_optional_joints_are_filled_from_the_data_only_when_asked_for():
    from humanparse.engine.train import complete_spec
    from humanparse.schemas import LIP, LIP_JOINTS

    parser = {"name": "deeplab", "head": "aspp_v3_plus"}
    assert "num_joints" not in complete_spec(parser, LIP, LIP_JOINTS)
    assert "num_joints" not in complete_spec({**parser, "num_joints": None}, LIP, None)
    assert complete_spec({**parser, "num_joints": "auto"}, LIP, LIP_JOINTS)["num_joints"] == LIP_JOINTS.num_joints
    with pytest.raises(ConfigError, match="predicts joints, but the training data has no keypoints"):
        complete_spec({**parser, "num_joints": "auto"}, LIP, None)
    # A pose model's joints are not optional: they come from the data whatever the spec says.
    assert complete_spec({"name": "jppnet"}, LIP, LIP_JOINTS)["num_joints"] == LIP_JOINTS.num_joints


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


# ----------------------------------------------------------------------------- value checks


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.max_epochs=abc", "train.max_epochs: expected a positive integer, or -1 (no limit), got 'abc'"),
        ("train.max_epochs=1.5", "train.max_epochs: expected a positive integer, or -1 (no limit), got 1.5"),
        ("train.max_epochs=-3", "got -3"),
        ("train.max_epochs=true", "got True"),  # a bool is not an integer here
        ("train.max_steps=0", "train.max_steps: expected a positive integer, or -1"),
        ("train.seed=-1", "train.seed: expected an integer in [0, 4294967295], got -1"),
        ("train.seed=abc", "train.seed: expected an integer in [0, 4294967295], got 'abc'"),
        ("train.seed=99999999999999999999", "got 99999999999999999999"),
        ("data.augment.scale=[1.2, 0.8]", "data.augment.scale: expected [low, high] zoom factors with 0 < low <= high"),
        ("data.augment.scale=[0, 1]", "data.augment.scale"),
        ("data.augment.scale=0.5", "data.augment.scale"),
        ("data.augment.rotation=-5", "data.augment.rotation: expected a number in [0, 180], got -5"),
        ("data.augment.translation=2", "data.augment.translation: expected a number in [0, 1]"),
        ("data.augment.flip=1.5", "data.augment.flip: expected a number in [0, 1], got 1.5"),
        ("data.augment.jitter=maybe", "data.augment.jitter: expected true or false, got 'maybe'"),
        ("train.precision=17", "train.precision: expected one of 'auto', '32-true', 'bf16-mixed'"),
        ("train.max_time=soon", "train.max_time: expected null or a duration \"DD:HH:MM:SS\" (in quotes), got 'soon'"),
        ("train.max_time=1:00:00:00", "got 216000"),  # YAML's base-60 number: the message says to quote it
        ("data.batch_size=0", "data.batch_size: expected a positive integer, got 0"),
        ("data.val_batch_size=-1", "data.val_batch_size: expected null or a positive integer, got -1"),
        ("data.num_workers=-1", "data.num_workers: expected an integer >= 0, got -1"),
        ("data.num_workers=two", "data.num_workers"),
        ("data.input_size=[0, 64]", "data.input_size: expected [height, width] positive integers"),
        ("data.input_size=[64.5, 64]", "data.input_size"),
        ("train.lr=abc", "train.lr: expected a positive number, got 'abc'"),
        ("train.lr=.nan", "train.lr: expected a positive number, got nan"),
        ("train.lr=0", "train.lr"),
        ("train.momentum=" + "9" * 400, "train.momentum: expected a number in [0, 1)"),  # no float overflow
        ("train.momentum=1.0", "train.momentum: expected a number in [0, 1)"),
        ("train.weight_decay=-1e-4", "train.weight_decay: expected a number >= 0"),
        ("train.head_lr_mult=0", "train.head_lr_mult"),
        ("train.warmup_steps=1.5", "train.warmup_steps: expected an integer >= 0"),
        ("train.accumulate_grad_batches=0", "train.accumulate_grad_batches: expected a positive integer"),
        ("train.gradient_clip_val=-1", "train.gradient_clip_val: expected null or a positive number"),
        ("train.limit_val_batches=1.5", "train.limit_val_batches"),
        ("train.log_every_n_steps=0", "train.log_every_n_steps"),
        ("train.val_every_n_epochs=0", "train.val_every_n_epochs"),
        ("train.num_nodes=0", "train.num_nodes"),
        ("train.accelerator=xpu", "train.accelerator: expected one of 'auto', 'cpu', 'gpu', 'cuda', 'mps', 'tpu'"),
        ("train.devices=0", "train.devices: expected 'auto', a number of devices"),
        ("train.devices=[0, 0]", "train.devices"),
        ("train.devices=0,1", "train.devices"),
        ("train.compile=1", "train.compile: expected true or false, got 1"),
        ("train.channels_last=yes please", "train.channels_last: expected 'auto' or true or false"),
        ("train.out_dir=null", "train.out_dir: expected a path, got None"),
        ("train.resume=3", "train.resume"),
        ("eval.flip=2", "eval.flip: expected true or false"),
        ("eval.scales=[]", "eval.scales: expected a non-empty list of positive numbers"),
        ("eval.network_scales=[1, -1]", "eval.network_scales"),
        ("data.root=[a, b]", "data.root: expected null or a path"),
        ("data.train_ids={a: 1}", "data.train_ids"),
    ],
)
def test_every_value_is_checked_naming_the_key(override, expected):
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    assert expected in str(error.value)


@pytest.mark.parametrize(
    "override",
    [
        "train.max_epochs=-1", "train.max_steps=100", "train.seed=4294967295", "train.max_time='00:01:30:00'",
        "train.precision=bf16-mixed", "train.precision=32", "train.devices=-1", "train.devices=[0, 1]",
        "train.devices=2", "train.accelerator=gpu", "data.augment.scale=[1, 1]", "data.augment.flip=1",
        "data.val_batch_size=2", "train.limit_val_batches=3", "train.limit_val_batches=0.25",
        "train.gradient_clip_val=1", "train.channels_last=true", "data.train_ids=0001-0100",
        "data.train_ids=[1, 2]", "data.train_split=null",
    ],
)
def test_values_in_range_are_kept(override):
    key, raw = override.split("=", 1)
    section, *rest = key.split(".")
    value = load_config(None, [override])[section]
    for part in rest:
        value = value[part]
    assert value == parse_override(override)[1]


def test_every_default_key_has_a_rule_and_the_defaults_pass_it():
    from humanparse.config import RULES

    def leaves(section: dict, where: str):
        for key, value in section.items():
            path = f"{where}.{key}"
            yield from leaves(value, path) if isinstance(value, dict) else [path]

    keys = [k for section in ("data", "train", "eval") for k in leaves(DEFAULTS[section], section)]
    assert sorted(keys) == sorted(RULES)
    load_config(None)


def test_a_bad_value_from_the_file_names_the_file_and_one_from_an_override_does_not(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: deeplab}\ntrain: {max_epochs: abc, seed: 3}\n")
    with pytest.raises(ConfigError, match=r"^.*c\.yaml: train\.max_epochs: expected a positive integer"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"^train\.seed: expected"):
        load_config(path, ["train.max_epochs=3", "train.seed=-2"])
    with pytest.raises(ConfigError, match=r"^train\.max_epochs: expected"):
        load_config(path, ["train={max_epochs: x}"])
