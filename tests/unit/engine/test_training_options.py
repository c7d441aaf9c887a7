"""Optimisation options of the task: BatchNorm frozen at its statistics (``train.freeze_bn``),
through a Lightning run's switches between training and validation, and which parameters train
at the base learning rate."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest.mock import PropertyMock, patch

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from humanparse.config import ConfigError, load_config
from humanparse.data.synth import write_synthetic_dataset
from humanparse.engine.task import HumanTask
from humanparse.engine.train import run_train
from humanparse.nn import batchnorm_layers
from humanparse.schemas import LIP, LIP_JOINTS

TINY_DEEPLAB = {"name": "deeplab", "num_classes": LIP.num_classes, "backbone": "resnet18", "base_width": 8,
                "head": "aspp_v3"}
TRAIN = {"lr": 0.01, "head_lr_mult": 10.0, "optimizer": "sgd", "momentum": 0.9, "weight_decay": 1e-4}


def with_trainer(task: HumanTask, steps: int = 10):
    """configure_optimizers reads the trainer's step count; a stand-in gives it one."""
    return patch.object(HumanTask, "trainer", new_callable=PropertyMock,
                        return_value=SimpleNamespace(estimated_stepping_batches=steps))


def bn_state(task: HumanTask) -> dict[str, torch.Tensor]:
    names = {id(m) for m in batchnorm_layers(task.model)}
    return {f"{name}.{key}": value.detach().clone() for name, m in task.model.named_modules() if id(m) in names
            for key, value in m.state_dict().items()}


def train_steps(task: HumanTask, steps: int = 2, batch: dict | None = None) -> None:
    """A few optimiser steps on one batch (random images and labels unless given)."""
    with with_trainer(task):
        optimizer = task.configure_optimizers()["optimizer"]
    torch.manual_seed(0)
    if batch is None:
        batch = {"image": torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8),
                 "label": torch.randint(0, LIP.num_classes, (2, 32, 32), dtype=torch.uint8)}
    task.train()
    task.on_train_epoch_start()
    for _ in range(steps):
        loss = task.compute_loss(task(batch["image"]), batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_bn_keeps_running_statistics_and_affine_parameters(freeze):
    torch.manual_seed(0)
    task = HumanTask(TINY_DEEPLAB, LIP.to_dict(), (32, 32), {**TRAIN, "freeze_bn": freeze})
    layers = batchnorm_layers(task.model)
    assert len(layers) > 20  # the ResNet's and the v3 ASPP's
    before = bn_state(task)
    conv_before = task.model.backbone.conv1.weight.detach().clone()
    train_steps(task)
    after = bn_state(task)
    changed = [key for key in before if not torch.equal(before[key], after[key]) and "num_batches" not in key]
    if freeze:
        assert changed == []
        assert all(not layer.training for layer in layers)
        assert not any(p.requires_grad for layer in layers for p in layer.parameters())
    else:
        kinds = {key.rsplit(".", 1)[1] for key in changed}
        assert kinds == {"running_mean", "running_var", "weight", "bias"}
    assert not torch.equal(task.model.backbone.conv1.weight, conv_before)  # the rest trains either way


def test_frozen_batchnorm_is_left_out_of_the_optimizer():
    task = HumanTask(TINY_DEEPLAB, LIP.to_dict(), (32, 32), {**TRAIN, "freeze_bn": True})
    with with_trainer(task):
        groups = task.configure_optimizers()["optimizer"].param_groups
    bn = {id(p) for layer in batchnorm_layers(task.model) for p in layer.parameters()}
    optimised = {id(p) for group in groups for p in group["params"]}
    assert not optimised & bn
    assert optimised | bn == {id(p) for p in task.model.parameters()}


class _ModeSpy(Callback):
    """The BatchNorm and other modules' modes at every training step, and after validation."""

    def __init__(self) -> None:
        self.bn_training: list[bool] = []
        self.others_training: list[bool] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        layers = batchnorm_layers(pl_module.model)
        ids = {id(m) for m in layers}
        self.bn_training.append(any(m.training for m in layers))
        self.others_training.append(all(m.training for m in pl_module.model.modules() if id(m) not in ids))


def test_freeze_bn_survives_lightnings_switches_between_training_and_validation(tmp_path):
    root = tmp_path / "synth"
    write_synthetic_dataset(root, 16, seed=1, size=(64, 64), val_fraction=0.25, clutter=0.0)
    config = load_config(None, [
        "model.name=deeplab", "model.backbone=resnet18", "model.base_width=8", "model.output_stride=16",
        "model.head=aspp_v2", "data.format=lip", f"data.root={root}", "data.input_size=[64, 64]",
        "data.batch_size=4", "data.num_workers=0", "train.optimizer=sgd", "train.lr=0.01",
        "train.accelerator=cpu", "train.devices=1", "train.max_epochs=2", "train.freeze_bn=true",
        f"train.out_dir={tmp_path / 'run'}",
    ])
    spy = _ModeSpy()
    summary = run_train(config, progress=False, callbacks=[spy])
    assert summary["global_step"] == 6 and len(spy.bn_training) == 6  # 3 steps an epoch, a validation between
    assert spy.bn_training == [False] * 6 and all(spy.others_training)
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    bn = {k: v for k, v in state["state_dict"].items() if ".bn" in k or "downsample.1" in k}
    assert bn and all(torch.all(v == (1.0 if k.endswith(("weight", "running_var")) else 0.0))
                      for k, v in bn.items() if not k.endswith("num_batches_tracked"))


def test_freeze_bn_is_a_boolean_and_excludes_synchronised_batchnorm():
    assert load_config(None, [])["train"]["freeze_bn"] is False
    with pytest.raises(ConfigError, match="train.freeze_bn: expected true or false"):
        load_config(None, ["train.freeze_bn=sometimes"])
    with pytest.raises(ConfigError, match="exclude each other"):
        load_config(None, ["train.freeze_bn=true", "train.sync_batchnorm=true"])


TINY_SSNAN = {"name": "ss_nan", "num_classes": LIP.num_classes, "backbone": "resnet18", "base_width": 8,
              "aggregation_channels": 8}


def param_groups(task: HumanTask) -> list[tuple[float, set[str]]]:
    """(lr, names of its parameters) of each parameter group."""
    with with_trainer(task):
        groups = task.configure_optimizers()["optimizer"].param_groups
    name_of = {id(p): n for n, p in task.model.named_parameters()}
    return [(g["lr"], {name_of[id(p)] for p in g["params"]}) for g in groups]


def test_base_lr_modules_keep_the_base_rate_beside_the_backbone():
    """SS-NAN's Section 4.1: the x10 is the final classifier's; the aggregation keeps the base rate."""
    names = {n for n, _ in HumanTask(TINY_SSNAN, LIP.to_dict(), (32, 32), TRAIN).model.named_parameters()}
    tops = {n: n.split(".")[0] for n in names}
    default = param_groups(HumanTask(TINY_SSNAN, LIP.to_dict(), (32, 32), TRAIN))
    assert [lr for lr, _ in default] == [0.01, pytest.approx(0.1)]
    assert {tops[n] for n in default[0][1]} == {"backbone"}
    assert {tops[n] for n in default[1][1]} == {"head", "aggregation"}  # today's behaviour: all but the backbone
    for modules in (["aggregation"], ["aggregation."]):
        task = HumanTask(TINY_SSNAN, LIP.to_dict(), (32, 32), {**TRAIN, "base_lr_modules": modules})
        (base_lr, base), (head_lr, head) = param_groups(task)
        assert (base_lr, head_lr) == (0.01, pytest.approx(0.1))
        assert {tops[n] for n in base} == {"backbone", "aggregation"} and {tops[n] for n in head} == {"head"}
        assert base | head == names
    frozen = HumanTask(TINY_SSNAN, LIP.to_dict(), (32, 32), {**TRAIN, "base_lr_modules": ["aggregation"],
                                                                "freeze_bn": True})
    assert not any(".bn" in n for _, group in param_groups(frozen) for n in group)


def test_base_lr_modules_must_name_parameters():
    task = HumanTask(TINY_SSNAN, LIP.to_dict(), (32, 32), {**TRAIN, "base_lr_modules": ["agregation"]})
    with pytest.raises(ConfigError, match=r"agregation names no parameters.*aggregation, backbone, head"):
        param_groups(task)
    for bad in ("aggregation", "['']", "[3]"):
        with pytest.raises(ConfigError, match="train.base_lr_modules: expected a list"):
            load_config(None, [f"train.base_lr_modules={bad}"])


def test_top_down_is_refused_for_training_validation():
    from humanparse.engine.train import build_task

    with pytest.raises(ConfigError, match="eval.top_down is for humanparse evaluate"):
        build_task(load_config(None, ["eval.top_down=true"]), None)  # refused before the data is opened


# -- train.freeze_modules: a joint head trained on a frozen parser --------------------------

TINY_PARSER_WITH_JOINTS = {"name": "deeplab", "num_classes": LIP.num_classes, "backbone": "resnet18",
                           "base_width": 8, "head": "aspp_v3_plus", "num_joints": LIP_JOINTS.num_joints}


def joint_task(**train) -> HumanTask:
    torch.manual_seed(0)
    return HumanTask(TINY_PARSER_WITH_JOINTS, LIP.to_dict(), (32, 32), {**TRAIN, **train},
                     joint_schema=LIP_JOINTS.to_dict(), loss=[{"type": "heatmap_l2", "sigma_px": 4.0}])


def joint_steps(task: HumanTask, steps: int = 2) -> None:
    torch.manual_seed(0)
    keypoints = torch.rand(2, 1, LIP_JOINTS.num_joints, 3) * 32
    keypoints[..., 2] = 1.0
    train_steps(task, steps, {"image": torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8), "keypoints": keypoints})


def test_frozen_modules_keep_their_weights_and_statistics_while_the_joint_head_learns():
    task = joint_task(freeze_modules=["backbone", "head"])
    state = {k: v.clone() for k, v in task.model.state_dict().items()}
    joint_steps(task)
    after = task.model.state_dict()
    changed = {k.split(".")[0] for k in state if not torch.equal(state[k], after[k]) and "num_batches" not in k}
    assert changed == {"joint_head"}
    assert not task.model.backbone.training and not task.model.head.training and task.model.joint_head.training
    assert task.monitor == "val/pck"  # mIoU cannot move: the best checkpoint is chosen by the joints


def test_without_freezing_the_joints_loss_trains_the_backbone_too():
    task = joint_task()
    before = task.model.backbone.conv1.weight.detach().clone()
    joint_steps(task)
    assert not torch.equal(task.model.backbone.conv1.weight, before)


def test_frozen_modules_are_left_out_of_the_optimizer():
    task = joint_task(freeze_modules=["backbone", "head"])
    names = set().union(*(names for _, names in param_groups(task)))
    assert names and all(n.startswith("joint_head.") for n in names)


def test_freeze_modules_names_real_modules_and_leaves_something_to_train():
    with pytest.raises(ConfigError, match=r"'neck' names no module of the model \(its top-level modules: "
                                          r"backbone, head, joint_head\)"):
        joint_task(freeze_modules=["neck"])
    with pytest.raises(ConfigError, match="nothing is left to train"):
        joint_task(freeze_modules=["backbone", "head", "joint_head"])
    assert load_config(None, [])["train"]["freeze_modules"] == []
    with pytest.raises(ConfigError, match="train.freeze_modules: expected a list of module names"):
        load_config(None, ["train.freeze_modules=backbone"])


def test_rmsprop_with_a_step_schedule_halves_the_rate_at_each_milestone():
    train = {**TRAIN, "optimizer": "rmsprop", "lr": 0.0025, "lr_milestones": [2, 4], "lr_gamma": 0.5}
    task = HumanTask(TINY_DEEPLAB, LIP.to_dict(), (32, 32), train)
    with with_trainer(task):
        configured = task.configure_optimizers()
    optimizer, schedule = configured["optimizer"], configured["lr_scheduler"]
    assert isinstance(optimizer, torch.optim.RMSprop) and schedule["interval"] == "epoch"
    rates = []
    for _ in range(5):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule["scheduler"].step()
    assert rates == pytest.approx([0.0025, 0.0025, 0.00125, 0.00125, 0.000625])
