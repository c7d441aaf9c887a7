"""Loss terms compose: a config's loss list picks, weighs and schedules them; the task sums the
terms on in each epoch."""

from __future__ import annotations

from unittest.mock import PropertyMock, patch

import pytest
import torch

from helpers import TINY_BACKBONE, tiny_spec
from humanparse.config import ConfigError
from humanparse.data.sample import VISIBLE
from humanparse.engine.task import HumanTask
from humanparse.losses import LOSSES, HeatmapLoss, LossContext, ParsingLoss, StructureSensitiveLoss, build_losses
from humanparse.models import MODELS
from humanparse.schemas import LIP, LIP_JOINTS

TINY_DEEPLAB = {"name": "deeplab", "num_classes": LIP.num_classes, **TINY_BACKBONE}


def batch(size=(32, 32)) -> dict:
    torch.manual_seed(0)
    keypoints = torch.rand(2, LIP_JOINTS.num_joints, 3) * size[0]
    keypoints[..., 2] = VISIBLE
    return {
        "image": torch.randint(0, 255, (2, 3, *size), dtype=torch.uint8),
        "label": torch.randint(0, LIP.num_classes, (2, *size), dtype=torch.uint8),
        "keypoints": keypoints,
    }


def at_epoch(epoch: int):
    return patch.object(HumanTask, "current_epoch", new_callable=PropertyMock, return_value=epoch)


def test_terms_are_weighted_and_switched_by_epoch():
    loss = [
        {"type": "cross_entropy", "weight": 2.0, "stop_epoch": 3},
        {"type": "structure_sensitive", "start_epoch": 3, "weight": 0.5},
    ]
    task = HumanTask(TINY_DEEPLAB, LIP.to_dict(), (32, 32), {}, loss=loss)
    b = batch()
    output = task(b["image"])
    label = {"label": b["label"]}
    ce = ParsingLoss()(output, label)["loss"]
    structure = StructureSensitiveLoss(LIP)(output, label)
    with at_epoch(2):
        parts = task.compute_loss(output, b)
    assert set(parts) == {"loss", "parsing"}
    torch.testing.assert_close(parts["loss"], 2.0 * ce)
    with at_epoch(3):
        parts = task.compute_loss(output, b)
    assert set(parts) == {"loss", "parsing", "structure_factor"}
    torch.testing.assert_close(parts["loss"], 0.5 * structure["loss"])
    torch.testing.assert_close(parts["structure_factor"], structure["joint"])


def test_a_joint_model_defaults_to_both_losses_and_a_second_term_of_a_kind_is_named_apart():
    spec = {"name": "jppnet", "num_classes": LIP.num_classes, "num_joints": LIP_JOINTS.num_joints,
            "backbone": "resnet18", "base_width": 8, "refine_stages": 0, "scales": [1.0]}
    task = HumanTask(spec, LIP.to_dict(), (32, 32), {}, joint_schema=LIP_JOINTS.to_dict())
    assert [t.type for t in task.loss_terms] == ["cross_entropy", "heatmap_l2"]
    assert task.loss_terms[1].loss.stride == task.model.output_stride  # the stride comes from the model
    b = batch()
    parts = task.compute_loss(task(b["image"]), b)
    torch.testing.assert_close(parts["loss"], parts["parsing"] + parts["pose"])

    two = [{"type": "cross_entropy"}, {"type": "cross_entropy", "aux_weight": 0.0}, {"type": "heatmap_l2"}]
    task = HumanTask(spec, LIP.to_dict(), (32, 32), {}, joint_schema=LIP_JOINTS.to_dict(), loss=two)
    assert set(task.compute_loss(task(b["image"]), b)) == {"loss", "parsing", "parsing_1", "pose"}


def test_a_term_the_model_cannot_feed_is_an_error():
    context = LossContext(LIP, None, 8)
    with pytest.raises(ConfigError, match=r"loss\[1\]: heatmap_l2 needs a model that predicts joints"):
        build_losses([{"type": "cross_entropy"}, {"type": "heatmap_l2"}], context, parses=True, poses=False)
    with pytest.raises(ConfigError, match=r"loss\[0\] \(structure_sensitive\): sigma_cells must be a positive"):
        build_losses([{"type": "structure_sensitive", "sigma_cells": 0}], context, parses=True, poses=False)
    with pytest.raises(ConfigError, match="predicts joints, but the data has no joint schema"):
        HumanTask({"name": "pose_net", "num_joints": 16, "backbone": "resnet18", "base_width": 8}, None, (32, 32), {})


def test_every_registered_loss_takes_the_uniform_call():
    b = batch()
    spec = {"name": "jppnet", "num_classes": LIP.num_classes, "num_joints": LIP_JOINTS.num_joints,
            "backbone": "resnet18", "base_width": 8, "refine_stages": 0, "scales": [1.0]}
    task = HumanTask(spec, LIP.to_dict(), (32, 32), {}, joint_schema=LIP_JOINTS.to_dict())
    output = task(b["image"])
    # HIPN returns the NIP maps that the hierarchy's loss reads.
    hipn = HumanTask(tiny_spec("hipn", MODELS["hipn"]), LIP.to_dict(), (32, 32), {})
    with_extras = hipn(b["image"])
    for name, cls in LOSSES.items():
        given = with_extras if cls.needs_extras else output
        assert set(cls.needs_extras) <= set(given.extras), name
        result = cls(LossContext(LIP, LIP_JOINTS, task.model.output_stride))(given, b)
        assert result["loss"].ndim == 0 and torch.isfinite(result["loss"]), name
        assert cls.needs in ("parsing", "joints") and isinstance(cls.log_name, str)
    assert isinstance(HeatmapLoss(LossContext(output_stride=8)).stride, int)
