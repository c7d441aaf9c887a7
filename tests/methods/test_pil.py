"""PIL (pose estimation with a Parsing Induced Learner): the hourglass and VGG16-FCN pose
networks, the parameter adapter, the per-sample adaptive convolution, the paper's ablation
fusions, where each loss's gradient goes, the MSE heatmap loss, and transfer."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import CPU_TRAINING, REPO, logged, mean_pose_pck
from humanparse.config import load_config
from humanparse.data.sample import VISIBLE
from humanparse.engine.task import HumanTask
from humanparse.engine.train import init_from_weights, run_train
from humanparse.errors import ConfigError
from humanparse.inference.model_file import save_model
from humanparse.losses import HeatmapMSELoss, LossContext
from humanparse.models import ParsingInducedPose, build_model
from humanparse.models.pil import DEFAULT_BETA, FUSIONS, AdaptiveConv, ParameterAdapter, adaptive_depthwise_conv
from humanparse.nn.backbones import build_backbone
from humanparse.nn.hourglass import Hourglass, StackedHourglass
from humanparse.schemas import LIP, LIP_JOINTS

J, C = LIP_JOINTS.num_joints, LIP.num_classes
TINY = {"stacks": 2, "units": 1, "parsing_units": 1}


def pil(fusion: str = "pil", **options) -> ParsingInducedPose:
    torch.manual_seed(0)
    classes = None if fusion in ("self", "none") else C
    return ParsingInducedPose(J, classes, fusion=fusion, **{**TINY, **options})


# -- the pose networks ----------------------------------------------------------------------

@pytest.mark.parametrize("size", [(64, 64), (70, 45)])
def test_the_hourglass_gives_every_stack_at_stride_4(size):
    net = StackedHourglass(J, stacks=3, units=1).eval()
    with torch.no_grad():
        outputs, features = net.run(torch.randn(2, 3, *size))
    grid = (-(-size[0] // 4), -(-size[1] // 4))
    assert [tuple(o.shape) for o in outputs] == [(2, J, *grid)] * 3
    assert tuple(features.shape) == (2, 256, *grid)


def test_units_are_residual_units_at_every_level_and_only_the_last_stack_is_refined():
    one, two = (sum(p.numel() for p in Hourglass(16, n).parameters()) for n in (1, 2))
    assert two > 1.9 * one  # every level's branches double their units
    net = StackedHourglass(J, stacks=2, units=1).eval()
    seen = []
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        plain = net(x)
        refined = net(x, refine=lambda f: seen.append(f.shape) or torch.zeros_like(f))
    assert len(seen) == 1  # called once: the last stack
    torch.testing.assert_close(refined[0], plain[0])  # the first stack is unchanged
    assert torch.allclose(refined[1], net.classifiers[1].bias.view(1, -1, 1, 1).expand_as(refined[1]))


def test_vgg16_fcn_is_at_stride_8_and_loads_torchvisions_layout_strictly(tmp_path):
    backbone = build_backbone("vgg16_fcn", 8)
    assert backbone.output_stride == 8 and backbone.out_channels == 512
    with torch.no_grad():
        maps = backbone(torch.randn(1, 3, 67, 45))
    assert tuple(maps["stage5"].shape) == (1, 512, 9, 6)
    conv_indices = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]  # torchvision's VGG-16 features
    assert sorted(int(k.split(".")[1]) for k in backbone.state_dict() if k.endswith("weight")) == conv_indices
    torchvision_like = {k: torch.full_like(v, 0.5) for k, v in backbone.state_dict().items()}
    torchvision_like["classifier.0.weight"] = torch.zeros(4096, 25088)  # the ImageNet classifier is dropped
    torch.save(torchvision_like, tmp_path / "vgg16.pth")
    loaded = build_backbone("vgg16_fcn", 8, pretrained=tmp_path / "vgg16.pth")
    assert torch.all(loaded.features[28].weight == 0.5)


# -- the parameter adapter and the adaptive convolution -----------------------------------------

def test_the_adapter_gives_the_papers_kernel_sizes():
    """7x7x256 from the hourglass's 64x64 features; 3x3x512 from VGG's 32x32."""
    hourglass, vgg = ParameterAdapter(256, 7), ParameterAdapter(512, 3)
    assert tuple(hourglass.layers(torch.randn(2, 256, 64, 64)).shape) == (2, 256, 7, 7)
    assert tuple(vgg.layers(torch.randn(1, 512, 32, 32)).shape) == (1, 512, 3, 3)
    # Other input sizes are brought to the same kernel size; too small an input is an error.
    assert tuple(hourglass(torch.randn(2, 256, 64, 48)).shape) == (2, 256, 7, 7)
    with pytest.raises(ValueError, match="at least 9 cells"):
        hourglass(torch.randn(1, 256, 8, 8))


def test_the_grouped_convolution_equals_a_loop_over_samples_and_the_onnx_form():
    torch.manual_seed(0)
    x, kernels = torch.randn(3, 5, 9, 11), torch.randn(3, 5, 7, 7)
    grouped = adaptive_depthwise_conv(x, kernels)
    loop = torch.cat([F.conv2d(x[b : b + 1], kernels[b].unsqueeze(1), padding=3, groups=5) for b in range(3)])
    torch.testing.assert_close(grouped, loop, rtol=1e-5, atol=1e-5)
    with patch("torch.onnx.is_in_onnx_export", return_value=True):
        shifted = adaptive_depthwise_conv(x, kernels)
    torch.testing.assert_close(shifted, loop, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="odd"):
        adaptive_depthwise_conv(x, torch.randn(3, 5, 4, 4))


def test_different_images_get_different_kernels():
    model = pil().eval()
    with torch.no_grad():
        _, features = model.parsing_net.run(torch.randn(2, 3, 64, 64))
        kernels = model.adapter(features)
    assert tuple(kernels.shape) == (2, 256, 7, 7)
    assert (kernels[0] - kernels[1]).abs().mean() > 1e-3 * kernels.abs().mean()
    # ... and the refinement is per image: the batch's order does not mix them.
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        pair, single = model(x).heatmaps, model(x[1:]).heatmaps
    # (relative to the maps' size: untrained, in eval mode, they run into the thousands)
    assert (pair[1:] - single).abs().max() <= 1e-5 * single.abs().max()


def test_the_self_control_learns_one_static_kernel():
    conv = AdaptiveConv(8, 7, static=True)
    assert tuple(conv.kernel.shape) == (8, 7, 7)
    assert tuple(conv(torch.randn(3, 8, 10, 10)).shape) == (3, 8, 10, 10)
    with pytest.raises(ValueError, match="needs the adapter's kernels"):
        AdaptiveConv(8, 7)(torch.randn(1, 8, 10, 10))


# -- the model and its ablations ---------------------------------------------------------------

@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("network", ["hourglass", "vgg16_fcn"])
def test_every_fusion_on_both_networks(fusion, network):
    model = pil(fusion, pose_net=network, parsing_net=network).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 96, 80))
    stride = 4 if network == "hourglass" else 8
    assert model.output_stride == stride
    assert tuple(out.heatmaps.shape) == (2, J, 96 // stride, 80 // stride)
    assert len(out.aux_heatmaps) == (1 if network == "hourglass" else 0)  # every stack is supervised
    assert (out.logits is None) == (fusion in ("self", "none"))
    if out.logits is not None:
        assert tuple(out.logits.shape) == (2, C, 96 // stride, 80 // stride)
    names = {n.split(".")[0] for n in model.state_dict()}
    assert ("parsing_net" in names) == (fusion in ("pil", "add", "multi", "concat"))
    assert ("adapter" in names) == (fusion == "pil")


def test_bad_options_are_reported():
    with pytest.raises(ValueError, match="parses nothing"):
        ParsingInducedPose(J, C, fusion="none")
    with pytest.raises(ValueError, match="needs num_classes"):
        ParsingInducedPose(J, None, fusion="mtl")
    with pytest.raises(ValueError, match="must match"):
        ParsingInducedPose(J, C, pose_net="hourglass", parsing_net="vgg16_fcn", stacks=1)
    with pytest.raises(ValueError, match="fusion"):
        ParsingInducedPose(J, C, fusion="sum")
    with pytest.raises(ValueError, match="no ImageNet weights"):
        ParsingInducedPose(J, C, pretrained="vgg16.pth")
    with pytest.raises(ValueError, match="VGG16-FCN's are fixed"):
        ParsingInducedPose(J, C, pose_net="vgg16_fcn", parsing_net="vgg16_fcn", base_width=64)


def test_base_width_narrows_both_hourglasses_and_the_learner():
    narrow, standard = pil(base_width=32), pil()
    assert narrow.pose_net.channels == narrow.parsing_net.channels == 32 == narrow.adaptive.u.in_channels
    assert standard.pose_net.channels == 256
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in standard.parameters()) / 20
    with torch.no_grad():
        out = narrow.eval()(torch.randn(1, 3, 64, 64))
    assert tuple(out.heatmaps.shape) == (1, J, 16, 16) and tuple(out.logits.shape) == (1, C, 16, 16)


def test_the_adapter_and_u_v_learn_only_from_the_pose_loss():
    model = pil().train()
    out = model(torch.randn(2, 3, 64, 64))
    target = torch.randint(0, C, (2, 16, 16))
    F.cross_entropy(out.logits, target).backward(retain_graph=True)
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(grads[n] is None for n in grads if n.startswith(("adapter.", "adaptive.", "pose_net.")))
    assert grads["parsing_net.stem.0.weight"].abs().sum() > 0
    model.zero_grad(set_to_none=True)
    out.heatmaps.square().mean().backward()
    for prefix in ("adapter.", "adaptive.v.", "adaptive.u.", "pose_net.stem.", "parsing_net.stem."):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters()
                   if n.startswith(prefix)), prefix
    assert model.parsing_net.classifiers[0].weight.grad is None  # C^S is parsing's alone


def test_the_mse_heatmap_loss_is_a_mean_over_annotated_joints_and_every_stack():
    loss = HeatmapMSELoss(LossContext(LIP, LIP_JOINTS, 4), sigma_cells=1.0)
    assert loss.sigma == 4.0  # one cell at stride 4
    keypoints = torch.zeros(1, J, 3)
    keypoints[0, :, :2] = 30.0
    keypoints[0, 0, 2] = VISIBLE  # only joint 0 annotated
    with patch("humanparse.losses.heatmap.keypoint_targets") as targets:
        target = torch.zeros(1, J, 16, 16)
        weights = torch.zeros(1, J)
        weights[0, 0] = 1.0
        targets.return_value = (target, weights)
        heatmaps = torch.ones(1, J, 16, 16)
        from humanparse.models import ModelOutput

        result = loss(ModelOutput(heatmaps=heatmaps, aux_heatmaps=[2 * heatmaps]), {"keypoints": keypoints})
    # Joint 0's mean squared error is 1 (final) and 4 (aux), the others weigh 0; the mean is over J.
    assert float(result["main"]) == pytest.approx(1.0 / J)
    assert float(result["loss"]) == pytest.approx(5.0 / J)
    assert DEFAULT_BETA == 0.01


# -- training and transfer ---------------------------------------------------------------------

def keypoint_batch(size=(64, 64), batch=2):
    torch.manual_seed(1)
    keypoints = torch.rand(batch, 1, J, 3) * size[0]
    keypoints[..., 2] = VISIBLE
    return {"image": torch.randint(0, 255, (batch, 3, *size), dtype=torch.uint8), "keypoints": keypoints,
            "label": torch.randint(0, C, (batch, *size), dtype=torch.uint8)}


def test_transfer_starts_and_freezes_the_learner_and_trains_the_rest(tmp_path):
    source = pil()
    folder = save_model(tmp_path / "pil", source, {"name": "pil", "num_joints": J, "num_classes": C, **TINY},
                        LIP, (64, 64), joint_schema=LIP_JOINTS)
    train = {"lr": 0.01, "optimizer": "adamw", "weight_decay": 0.0, "freeze_modules": ["parsing_net", "adapter"]}
    torch.manual_seed(5)
    task = HumanTask({"name": "pil", "num_joints": J, **TINY}, None, (64, 64), train,
                     joint_schema=LIP_JOINTS.to_dict(), loss=[{"type": "heatmap_mse"}])
    assert task.model.num_classes is None and not task.parses  # pose-only data: nothing is parsed
    copied, _ = init_from_weights(task.model, folder, ["parsing_net", "adapter"])
    learner = {k: v.clone() for k, v in task.model.state_dict().items() if k.startswith(("parsing_net.", "adapter."))}
    assert copied == len(learner)
    own = source.state_dict()
    assert all(torch.equal(v, own[k]) for k, v in learner.items())
    assert not torch.equal(task.model.pose_net.stem[0].weight, source.pose_net.stem[0].weight)  # not copied
    before = {k: v.detach().clone() for k, v in task.model.named_parameters()}
    with patch.object(HumanTask, "trainer", create=True) as trainer:
        trainer.estimated_stepping_batches = 10
        optimizer = task.configure_optimizers()["optimizer"]
    task.train()
    task.on_train_epoch_start()
    batch = keypoint_batch()
    for _ in range(2):
        loss = task.compute_loss(task(batch["image"]), batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = dict(task.model.named_parameters())
    changed = {k.split(".")[0] + ("." + k.split(".")[1] if k.startswith("adaptive.") else "")
               for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"pose_net", "adaptive.v", "adaptive.u", "adaptive.norm"}
    frozen = {k: v for k, v in task.model.state_dict().items() if k.startswith(("parsing_net.", "adapter."))}
    assert all(torch.equal(v, learner[k]) for k, v in frozen.items())  # BatchNorm statistics too (eval mode)
    with pytest.raises(ConfigError, match="init_modules: neck names no weights"):
        init_from_weights(task.model, folder, ["neck"])


def test_spec_from_a_config_asks_for_parsing_by_auto():
    from humanparse.engine.train import complete_spec

    spec = complete_spec({"name": "pil", "num_classes": "auto"}, LIP, LIP_JOINTS)
    assert spec["num_classes"] == C and spec["num_joints"] == J
    assert "num_classes" not in complete_spec({"name": "pil", "fusion": "none"}, LIP, LIP_JOINTS)
    assert build_model({**complete_spec({"name": "pil", "fusion": "none"}, None, LIP_JOINTS), **TINY}).num_classes is None


# -- learning -------------------------------------------------------------------------------

@pytest.mark.slow
def test_pil_learns_joints_on_synthetic_humans(synth_pose_root, tmp_path):
    out = tmp_path / "run"
    # σ = 2 cells and a higher rate: the plain σ = 1 MSE needs about twice the epochs to get as far.
    config = load_config(REPO / "configs" / "synth" / "pil_hourglass.yaml", [
        f"data.root={synth_pose_root}", f"train.out_dir={out}", "model.base_width=16", "train.max_epochs=20",
        "train.lr=0.005", "data.augment.translation=0.0", *CPU_TRAINING,
        "loss=[{type: heatmap_mse, sigma_cells: 2.0}, {type: cross_entropy, weight: 0.01}]",
    ])
    summary = run_train(config, progress=False)
    pose_loss = logged(out, "train/loss_pose")
    assert np.mean(pose_loss[-20:]) < 0.8 * np.mean(pose_loss[:5]), pose_loss
    pck, baseline = logged(out, "val/pck"), mean_pose_pck(synth_pose_root)
    # Answering every image with the mean pose scores about 7; beating it by 40% means the
    # network localises joints per image (a uniform guess scores under 1).
    assert max(pck) > 1.4 * baseline, (pck, baseline)
    # The parsing helps the joints: the best checkpoint is the best PCK, and the parsing trained too.
    assert summary["monitor"] == "val/pck" and summary["best_val_pck"] == pytest.approx(max(pck), abs=0.05)
    assert logged(out, "train/loss_parsing")[-1] < logged(out, "train/loss_parsing")[0]
