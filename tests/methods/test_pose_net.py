"""The pose-only networks: the LIP paper's "ResNet-101" baseline (a whole DeepLab with its
output layer changed to heatmaps) and JPPNet's pose branch under its earlier name."""

from __future__ import annotations

import math

import pytest
import torch

from helpers import TINY_BACKBONE as TINY
from humanparse.models import DeepLab, JPPNetPoseBranch, ResNetPose, build_model, predicts_joints, predicts_parsing
from humanparse.inference.model_file import load_model, save_model
from humanparse.nn import ASPPv2Head, LargeFOVHead
from humanparse.schemas import LIP, LIP_JOINTS

SIZE = (61, 45)


def out_size(stride: int = 8) -> tuple[int, int]:
    return math.ceil(SIZE[0] / stride), math.ceil(SIZE[1] / stride)


@pytest.mark.parametrize("output_stride", [8, 16])
@pytest.mark.parametrize("head", ["aspp_v2", "dense"])
def test_resnet_pose_predicts_heatmaps_from_the_whole_network(head, output_stride):
    torch.manual_seed(0)
    model = ResNetPose(num_joints=16, head=head, output_stride=output_stride, **TINY).eval()
    assert model.output_stride == output_stride and predicts_joints(model) and not predicts_parsing(model)
    with torch.no_grad():
        out = model(torch.randn(2, 3, *SIZE))
    assert out.logits is None and out.aux_logits == [] and out.aux_heatmaps == [] and out.extras == {}
    assert tuple(out.heatmaps.shape) == (2, 16, *out_size(output_stride))
    assert any(name.startswith("backbone.layer4.") for name, _ in model.named_parameters())  # Res-5 is kept


def test_resnet_pose_defaults_to_deeplab_v2_at_stride_8_and_takes_any_backbone():
    model = ResNetPose(num_joints=5, **TINY)
    assert model.output_stride == 8 and isinstance(model.head, ASPPv2Head)
    assert [b.dilation[0] for b in model.head.branches] == [6, 12, 18, 24]
    assert all(b.out_channels == 5 for b in model.head.branches)
    vgg = ResNetPose(num_joints=5, backbone="vgg16", head="largefov")
    assert isinstance(vgg.head, LargeFOVHead) and vgg.head.fc8.out_channels == 5
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="num_joints"):
            ResNetPose(num_joints=bad, **TINY)
    with pytest.raises(ValueError, match="head"):
        ResNetPose(head="1x1", **TINY)
    with pytest.raises(ValueError, match="resnet_pose"):
        build_model({"name": "resnet_pose", "num_classes": 7, **TINY})


def test_resnet_pose_parameter_names_are_deeplabs():
    """backbone.* and head.* as a DeepLab with the same options: the backbone's names and
    shapes are equal, the head's names equal and its widths the joints'."""
    model = build_model({"name": "resnet_pose", "num_joints": 16, **TINY})
    assert isinstance(model, ResNetPose)
    deeplab = DeepLab(20, head="aspp_v2", output_stride=8, **TINY)
    ours, theirs = model.state_dict(), deeplab.state_dict()
    assert set(ours) == set(theirs)
    assert {k.split(".")[0] for k in ours} == {"backbone", "head"}
    assert all(ours[k].shape == theirs[k].shape for k in ours if k.startswith("backbone."))
    assert all(ours[k].shape[0] == 16 for k in ours if k.startswith("head."))


def test_a_training_step_lowers_the_heatmap_mse():
    torch.manual_seed(0)
    model = ResNetPose(num_joints=4, **TINY).train()
    x = torch.randn(2, 3, 48, 40)
    target = torch.zeros(2, 4, 6, 5)
    target[:, :, 2, 3] = 1.0
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.mse_loss(model(x).heatmaps, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


def test_a_model_file_naming_pose_net_still_loads(tmp_path):
    """Model files written when JPPNet's pose branch was called pose_net load as the branch."""
    spec = {"name": "pose_net", "num_joints": LIP_JOINTS.num_joints, **TINY}
    torch.manual_seed(0)
    model = build_model(spec).eval()
    folder = save_model(tmp_path / "pose", model, spec, LIP, (32, 32), joint_schema=LIP_JOINTS)
    saved = load_model(folder)
    assert isinstance(saved.model, JPPNetPoseBranch)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(saved.model(x).heatmaps, model(x).heatmaps)
