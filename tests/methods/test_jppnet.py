"""JPPNet and its pose branch alone: output shapes and ordering, the stage average and the max
over scales, how the stages are wired, gradients, Table 7's widths, options, the registry and
backbone weights. Tiny networks (ResNet-18 at base width 8) on small inputs, on the CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import CONFIGS, TINY_BACKBONE as TINY, expected_size
from humanparse.models import DeepLab, JPPNet, JPPNetPoseBranch, ModelOutput, build_model
from humanparse.nn import WeightsError, resnet

NUM_CLASSES = 5
NUM_JOINTS = 16
SIZE = (61, 45)  # odd, so that the output size is a ceiling: (8, 6) at output stride 8


def run(model: nn.Module, size: tuple[int, int] = SIZE, batch: int = 2) -> ModelOutput:
    torch.manual_seed(1)
    with torch.no_grad():
        return model.eval()(torch.randn(batch, 3, *size))


# ---------------------------------------------------------------- outputs


@pytest.mark.parametrize("scales", [(1.0,), (1.0, 0.75, 0.5)], ids=["one-scale", "msc"])
@pytest.mark.parametrize("refine_stages", [0, 1, 2])
def test_jppnet_output_shapes(refine_stages, scales):
    torch.manual_seed(0)
    model = JPPNet(NUM_CLASSES, refine_stages=refine_stages, scales=scales, **TINY)
    assert model.output_stride == 8 and model.refine_stages == refine_stages and model.scales == scales
    out = run(model)
    h, w = expected_size(SIZE)
    stages, extra = 1 + refine_stages, (len(scales) if len(scales) > 1 else 0)
    assert out.supervise_logits is False and out.extras == {}
    assert tuple(out.logits.shape) == (2, NUM_CLASSES, h, w)
    assert tuple(out.heatmaps.shape) == (2, NUM_JOINTS, h, w)
    # fused map per stage, then (several scales) every stage's per-scale maps
    assert len(out.aux_logits) == stages + stages * extra
    assert len(out.aux_heatmaps) == (stages - 1) + stages * extra
    assert all(tuple(a.shape) == (2, NUM_CLASSES, h, w) for a in out.aux_logits)
    assert all(tuple(a.shape) == (2, NUM_JOINTS, h, w) for a in out.aux_heatmaps)


def test_scales_without_unit_scale_use_the_ceiling_size():
    model = JPPNet(NUM_CLASSES, num_joints=3, refine_stages=1, scales=(0.75, 1.25), output_stride=16, **TINY)
    out = run(model, size=(70, 50), batch=1)
    h, w = expected_size((70, 50), 16)
    assert tuple(out.logits.shape) == (1, NUM_CLASSES, h, w)
    assert tuple(out.heatmaps.shape) == (1, 3, h, w)
    assert len(out.aux_logits) == 2 + 2 * 2 and len(out.aux_heatmaps) == 1 + 2 * 2


def test_logits_average_the_fused_stages_and_fusion_is_the_max_over_scales():
    scales = (1.0, 0.5)
    torch.manual_seed(0)
    model = JPPNet(NUM_CLASSES, refine_stages=2, scales=scales, **TINY)
    out = run(model)
    stages, n = 3, len(scales)
    fused_parsing = out.aux_logits[:stages]
    torch.testing.assert_close(out.logits, sum(fused_parsing) / stages)
    # aux_logits after the fused maps: stage-major, scales in order within a stage
    per_scale_parsing = out.aux_logits[stages:]
    # aux_heatmaps: the fused maps of stages 0 and 1, then the per-scale maps of all three stages
    fused_pose = [*out.aux_heatmaps[: stages - 1], out.heatmaps]
    per_scale_pose = out.aux_heatmaps[stages - 1 :]
    for stage in range(stages):
        for fused, per_scale in ((fused_parsing[stage], per_scale_parsing), (fused_pose[stage], per_scale_pose)):
            maps = per_scale[stage * n : (stage + 1) * n]
            assert all(torch.all(fused >= m) for m in maps)
            torch.testing.assert_close(fused, torch.maximum(*maps))
            assert not torch.equal(maps[0], maps[1])  # the scales really differ


def test_test_fusion_mean_averages_the_scales_in_eval_mode_only():
    """``test_fusion: mean`` (the paper's inference) averages each stage's per-scale maps in eval
    mode; training still fuses by max; the per-scale maps are those of the max-fused network."""
    scales = (1.0, 0.75, 0.5)
    torch.manual_seed(0)
    model = JPPNet(NUM_CLASSES, refine_stages=1, scales=scales, test_fusion="mean", **TINY)
    reference = JPPNet(NUM_CLASSES, refine_stages=1, scales=scales, **TINY)
    reference.load_state_dict(model.state_dict())
    out, ref = run(model), run(reference)
    stages, n = 2, len(scales)
    assert all(torch.equal(a, b) for a, b in zip(out.aux_logits[stages:], ref.aux_logits[stages:]))
    per_scale_pose = out.aux_heatmaps[stages - 1 :]
    fused_pose = [*out.aux_heatmaps[: stages - 1], out.heatmaps]
    for stage in range(stages):
        parsing = out.aux_logits[stages + stage * n : stages + (stage + 1) * n]
        torch.testing.assert_close(out.aux_logits[stage], sum(parsing) / n)
        torch.testing.assert_close(fused_pose[stage], sum(per_scale_pose[stage * n : (stage + 1) * n]) / n)
    torch.testing.assert_close(out.logits, sum(out.aux_logits[:stages]) / stages)
    assert not torch.allclose(out.logits, ref.logits)
    with torch.no_grad():
        x = torch.randn(1, 3, *SIZE)
        trained = model.train()(x), reference.train()(x)
    assert torch.equal(trained[0].heatmaps, trained[1].heatmaps)  # max while training, whatever test_fusion says
    pose = JPPNetPoseBranch(scales=(1.0, 0.5), test_fusion="mean", **TINY)
    pose_out = run(pose)
    torch.testing.assert_close(pose_out.heatmaps, sum(pose_out.aux_heatmaps) / 2)
    for bad in ("average", None):
        with pytest.raises(ValueError, match="test_fusion must be one of max, mean"):
            JPPNet(NUM_CLASSES, test_fusion=bad, **TINY)


def test_unit_scale_maps_are_the_single_scale_network():
    """The scale-1.0 entries of the per-scale maps are a one-scale JPPNet's maps (same weights):
    this pins the stage-major, scale-minor order of aux_logits and aux_heatmaps."""
    scales = (0.5, 1.0)
    torch.manual_seed(0)
    multi = JPPNet(NUM_CLASSES, refine_stages=1, scales=scales, **TINY)
    single = JPPNet(NUM_CLASSES, refine_stages=1, **TINY)
    single.load_state_dict(multi.state_dict())
    out, ref = run(multi), run(single)
    stages, n, unit = 2, len(scales), scales.index(1.0)
    for stage in range(stages):
        torch.testing.assert_close(out.aux_logits[stages + stage * n + unit], ref.aux_logits[stage])
    ref_pose = [*ref.aux_heatmaps, ref.heatmaps]
    for stage in range(stages):
        torch.testing.assert_close(out.aux_heatmaps[stages - 1 + stage * n + unit], ref_pose[stage])


def test_refinement_takes_the_previous_stage_maps():
    """Both refinements of a stage read the previous stage's pose and parsing maps (not the
    pose just refined in the same stage)."""
    torch.manual_seed(0)
    model = JPPNet(NUM_CLASSES, refine_stages=2, **TINY).eval()
    seen: dict[str, torch.Tensor] = {}

    model.pose_module.register_forward_hook(lambda m, i, o: seen.__setitem__("pose0", o[0]))
    model.head.register_forward_hook(lambda m, i, o: seen.__setitem__("parsing0", o))
    model.refine[0].pose.register_forward_hook(lambda m, i, o: seen.__setitem__("pose1", o[0]))
    model.refine[0].parsing.register_forward_hook(lambda m, i, o: seen.__setitem__("parsing1", o[0]))
    for s in (0, 1):
        for branch in ("pose", "parsing"):
            sub = getattr(model.refine[s], branch)
            sub.remap1.register_forward_hook(lambda m, i, o, k=f"{branch}{s}.remap1": seen.__setitem__(k, i[0]))
            sub.remap2.register_forward_hook(lambda m, i, o, k=f"{branch}{s}.remap2": seen.__setitem__(k, i[0]))
    out = run(model)
    for s, (pose, parsing) in enumerate((("pose0", "parsing0"), ("pose1", "parsing1"))):
        for branch in ("pose", "parsing"):
            assert torch.equal(seen[f"{branch}{s}.remap1"], seen[pose])
            assert torch.equal(seen[f"{branch}{s}.remap2"], seen[parsing])
    assert torch.equal(out.aux_heatmaps[1], seen["pose1"]) and torch.equal(out.aux_logits[1], seen["parsing1"])


def test_last_stage_heatmap_loss_reaches_the_first_stage_and_backbone():
    torch.manual_seed(0)
    model = JPPNet(NUM_CLASSES, refine_stages=2, **TINY).train()
    out = model(torch.randn(2, 3, 48, 40))
    nn.functional.mse_loss(out.heatmaps, torch.rand_like(out.heatmaps)).backward()

    def grad_sum(p: torch.Tensor) -> float:
        return 0.0 if p.grad is None else float(p.grad.abs().sum())

    assert grad_sum(model.pose_module.conv8.weight) > 0  # stage-0 heatmaps, through the remaps
    assert grad_sum(model.pose_module.conv1.weight) > 0
    assert grad_sum(model.head.branches[0].weight) > 0  # stage-0 parsing maps feed the pose refinement
    assert grad_sum(model.part_module.conv1.weight) > 0  # the parsing context feeds stage-1 parsing
    assert grad_sum(model.backbone.conv1.weight) > 0
    assert grad_sum(model.backbone.layer4[0].conv1.weight) > 0
    # the last stage's parsing refinement does not feed its own stage's heatmaps
    assert all(p.grad is None for p in model.refine[1].parsing.parameters())


def test_every_parameter_is_trained_by_the_supervised_outputs():
    torch.manual_seed(0)
    model = JPPNet(NUM_CLASSES, refine_stages=1, scales=(1.0, 0.5), **TINY).train()
    out = model(torch.randn(1, 3, 48, 40))  # a batch of one trains (no BatchNorm in the added modules)
    loss = sum(a.square().mean() for a in out.aux_logits) + out.heatmaps.square().mean()
    (loss + sum(a.square().mean() for a in out.aux_heatmaps)).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()] == []


# ---------------------------------------------------------------- the pose branch alone


@pytest.mark.parametrize("scales", [(1.0,), (1.0, 0.5)], ids=["one-scale", "two-scales"])
def test_pose_branch_outputs(scales):
    torch.manual_seed(0)
    model = JPPNetPoseBranch(scales=scales, **TINY)
    out = run(model)
    h, w = expected_size(SIZE)
    assert out.logits is None and out.aux_logits == [] and out.extras == {}
    assert tuple(out.heatmaps.shape) == (2, NUM_JOINTS, h, w)
    assert len(out.aux_heatmaps) == (len(scales) if len(scales) > 1 else 0)
    for m in out.aux_heatmaps:
        assert tuple(m.shape) == (2, NUM_JOINTS, h, w) and torch.all(out.heatmaps >= m)
    if len(scales) > 1:
        torch.testing.assert_close(out.heatmaps, torch.maximum(*out.aux_heatmaps))


def test_pose_branch_has_no_res5():
    model = JPPNetPoseBranch(output_stride=16, **TINY)
    assert model.output_stride == 16
    names = set(model.state_dict())
    assert not any(k.startswith("backbone.layer4") for k in names)
    assert any(k.startswith("backbone.layer3") for k in names)
    assert {k.split(".")[0] for k in names} == {"backbone", "pose_module"}
    # the same backbone parameters as JPPNet's, less layer4
    jpp = JPPNet(NUM_CLASSES, **TINY)
    assert {k for k in jpp.state_dict() if k.startswith("backbone.") and ".layer4." not in f".{k}"} == {
        k for k in names if k.startswith("backbone.")
    }
    assert tuple(run(model, batch=1).heatmaps.shape) == (1, NUM_JOINTS, *expected_size(SIZE, 16))


# ---------------------------------------------------------------- Table 7


def _layout(module: nn.Module, names: list[str]) -> list[tuple[int, int]]:
    convs = [getattr(module, name) for name in names]
    return [(c.kernel_size[0], c.out_channels) for c in convs]


def test_table7_widths_at_the_standard_width():
    """Built (never run) at ResNet-101, base width 64: Table 7's kernels and channels exactly."""
    model = JPPNet(20, refine_stages=1)
    assert model.output_stride == 8 and model.num_joints == 16
    assert _layout(model.part_module, ["conv1", "conv2"]) == [(3, 512), (3, 256)]
    assert model.part_module.conv1.in_channels == 2048  # Res-5
    joint = [f"conv{i}" for i in range(1, 9)]
    assert _layout(model.pose_module, joint) == [
        (3, 512), (3, 512), (3, 256), (3, 256), (3, 256), (3, 256), (1, 512), (1, 16),
    ]
    assert model.pose_module.conv1.in_channels == 1024  # Res-4
    trunk = [(1, 128), (1, 128), (3, 512), (5, 256), (7, 256), (9, 256), (1, 256)]
    names = ["remap1", "remap2", "conv1", "conv2", "conv3", "conv4", "conv5"]
    pose, parsing = model.refine[0].pose, model.refine[0].parsing
    assert _layout(pose, [*names, "conv6"]) == [*trunk, (1, 16)]
    assert _layout(parsing, names) == trunk
    for branch in (pose, parsing):
        assert (branch.remap1.in_channels, branch.remap2.in_channels) == (16, 20)
        assert branch.conv1.in_channels == 512  # concat: 128 + 128 + 256 of context
        assert all(c.padding[0] == c.kernel_size[0] // 2 for c in branch.modules() if isinstance(c, nn.Conv2d)
                   and c.dilation[0] == 1)
    for head in (model.head, parsing.aspp):
        assert [(b.kernel_size[0], b.dilation[0], b.out_channels) for b in head.branches] == [
            (3, 6, 20), (3, 12, 20), (3, 18, 20), (3, 24, 20),
        ]
    assert parsing.aspp.branches[0].in_channels == 256
    added = [m for name, m in model.named_modules() if not name.startswith("backbone")]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in added)
    assert all(m.bias is not None for m in added if isinstance(m, nn.Conv2d))


def test_widths_scale_with_base_width():
    model = JPPNet(NUM_CLASSES, num_joints=4, refine_stages=1, **TINY)
    assert _layout(model.pose_module, ["conv1", "conv3", "conv7", "conv8"]) == [(3, 64), (3, 32), (1, 64), (1, 4)]
    assert model.refine[0].pose.remap1.out_channels == 16
    tiny = JPPNet(NUM_CLASSES, backbone="resnet18", base_width=2, refine_stages=1)
    assert tiny.refine[0].parsing.remap2.out_channels == 8  # 128 * 2 / 64 = 4, raised to the minimum 8
    assert tiny.part_module.conv1.out_channels == 16


# ---------------------------------------------------------------- options and registry


def test_invalid_options_raise_value_errors():
    for bad in (3, -1, True, 1.0):
        with pytest.raises(ValueError, match="refine_stages"):
            JPPNet(NUM_CLASSES, refine_stages=bad, **TINY)
    for bad in ([], [1.0, -0.5], [1.0, 1], "1.0", [float("nan")]):
        with pytest.raises(ValueError, match="scales"):
            JPPNet(NUM_CLASSES, scales=bad, **TINY)
        with pytest.raises(ValueError, match="scales"):
            JPPNetPoseBranch(scales=bad, **TINY)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="num_joints"):
            JPPNet(NUM_CLASSES, num_joints=bad, **TINY)
        with pytest.raises(ValueError, match="num_joints"):
            JPPNetPoseBranch(num_joints=bad, **TINY)
    with pytest.raises(ValueError, match="num_classes"):
        JPPNet(0, **TINY)
    with pytest.raises(ValueError, match="resnet18, resnet34, resnet50, resnet101"):
        JPPNet(NUM_CLASSES, backbone="vgg16")
    with pytest.raises(ValueError, match="output_stride must be one of 8, 16"):
        JPPNet(NUM_CLASSES, output_stride=32, **TINY)
    for bad in (4, 8.0):
        with pytest.raises(ValueError, match="output_stride"):
            JPPNetPoseBranch(output_stride=bad, **TINY)
    with pytest.raises(ValueError, match="base_width"):
        JPPNet(NUM_CLASSES, backbone="resnet18", base_width=0)
    for model in (JPPNet(NUM_CLASSES, refine_stages=0, **TINY), JPPNetPoseBranch(**TINY)):
        with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
            model(torch.randn(1, 1, 32, 32))


def test_build_model_from_spec():
    model = build_model({"name": "jppnet", "num_classes": 7, "num_joints": 14, "refine_stages": 1,
                         "scales": [1.0, 0.75], "output_stride": 16, "pretrained": None, **TINY})
    assert isinstance(model, JPPNet)
    assert (model.num_classes, model.num_joints, model.refine_stages, model.scales, model.output_stride) == (
        7, 14, 1, (1.0, 0.75), 16,
    )
    for name in ("jppnet_pose_branch", "pose_net"):  # pose_net: its earlier name
        pose = build_model({"name": name, "num_joints": 14, "scales": [1.0, 0.5], **TINY})
        assert isinstance(pose, JPPNetPoseBranch) and pose.num_joints == 14 and pose.scales == (1.0, 0.5)
        with pytest.raises(ValueError, match=name):
            build_model({"name": name, "num_classes": 7, **TINY})  # a pose-only model has no classes


def test_parameter_names():
    model = JPPNet(NUM_CLASSES, refine_stages=2, **TINY)
    prefixes = {name.split(".")[0] for name, _ in model.named_parameters()}
    assert prefixes == {"backbone", "head", "part_module", "pose_module", "refine"}
    assert {".".join(name.split(".")[:3]) for name, _ in model.named_parameters() if name.startswith("refine.")} == {
        "refine.0.pose", "refine.0.parsing", "refine.1.pose", "refine.1.parsing",
    }
    # The backbone is DeepLab's, parameter for parameter (weight files and `pretrained` fit both).
    deeplab = DeepLab(NUM_CLASSES, output_stride=8, **TINY)
    assert {k: v.shape for k, v in model.state_dict().items() if k.startswith("backbone.")} == {
        k: v.shape for k, v in deeplab.state_dict().items() if k.startswith("backbone.")
    }


def test_pretrained_weights_reach_the_backbone(tmp_path):
    source = resnet(18, base_width=8)
    nn.init.normal_(source.layer3[1].conv2.weight)
    nn.init.normal_(source.layer4[1].conv2.weight)
    state = dict(source.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 64), torch.zeros(1000)  # an ImageNet classifier
    path = tmp_path / "imagenet.pth"
    torch.save(state, path)
    jpp = JPPNet(NUM_CLASSES, pretrained=str(path), refine_stages=0, **TINY)
    assert torch.equal(jpp.backbone.layer3[1].conv2.weight, source.layer3[1].conv2.weight)
    assert torch.equal(jpp.backbone.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    pose = JPPNetPoseBranch(pretrained=str(path), **TINY)
    assert torch.equal(pose.backbone.layer3[1].conv2.weight, source.layer3[1].conv2.weight)
    assert not any(k.startswith("backbone.layer4") for k in pose.state_dict())
    # still strict: a ResNet of another depth does not load
    other = tmp_path / "resnet34.pth"
    torch.save(resnet(34, base_width=8).state_dict(), other)
    with pytest.raises(WeightsError, match="resnet34.pth"):
        JPPNetPoseBranch(pretrained=str(other), **TINY)
    with pytest.raises(WeightsError, match="resnet34.pth"):
        JPPNet(NUM_CLASSES, pretrained=str(other), **TINY)


def test_the_papers_ss_jppnet_config_is_attention_on_vgg16_largefov():
    """configs/lip/ss_jppnet_vgg16.yaml builds Chen et al.'s Attention (VGG-16 DeepLab-LargeFOV
    over scales 1, 0.75, 0.5) and runs; it is tested at its own scales with flip."""
    from pathlib import Path

    from humanparse.config import load_config
    from humanparse.models import AttentionToScale
    from humanparse.nn import VGG16LargeFOV

    config = load_config(CONFIGS / "lip" / "ss_jppnet_vgg16.yaml")
    assert config["eval"]["scales"] == [1.0] and config["eval"]["flip"] is True
    assert [term["type"] for term in config["loss"]] == ["cross_entropy", "structure_sensitive"]
    model = build_model({**config["model"], "num_classes": NUM_CLASSES}).eval()
    assert isinstance(model, AttentionToScale) and isinstance(model.backbone, VGG16LargeFOV)
    assert model.scales == (1.0, 0.75, 0.5) and model.output_stride == 8
    assert model.attention[0].in_channels == 3 * 1024  # fc7 of every scale
    out = run(model, size=(41, 33), batch=1)
    assert tuple(out.logits.shape) == (1, NUM_CLASSES, *expected_size((41, 33)))
    assert len(out.aux_logits) == 3 and tuple(out.extras["scale_weights"].shape) == (1, 3, *expected_size((41, 33)))
