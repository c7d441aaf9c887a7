"""HRNet-W18/W32/W48: the official ImageNet checkpoints' layout, strict loading, HRNetV2 features."""

from __future__ import annotations

import math

import pytest
import torch

from humanparse.nn import WeightsError
from humanparse.nn.backbones import FIXED_OUTPUT_STRIDES, build_backbone

# ------------------------------------------------- the official classification checkpoints
# Written out from the rules of HRNet's classification code (cls_hrnet.py: stem, layer1, the
# transitions, the high-resolution modules, the classification head), independently of the
# code under test.
PUBLISHED_MILLIONS = {18: 21.3, 32: 41.2, 48: 77.5}  # HRNet-W{18,32,48}-C, as published
HEAD = ("incre_modules.", "downsamp_modules.", "final_layer.", "classifier.")


def _bn(prefix: str, c: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
            f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()}


def _bottleneck(prefix: str, cin: int, planes: int) -> dict[str, tuple[int, ...]]:
    s = {f"{prefix}.conv1.weight": (planes, cin, 1, 1), **_bn(f"{prefix}.bn1", planes),
         f"{prefix}.conv2.weight": (planes, planes, 3, 3), **_bn(f"{prefix}.bn2", planes),
         f"{prefix}.conv3.weight": (planes * 4, planes, 1, 1), **_bn(f"{prefix}.bn3", planes * 4)}
    if cin != planes * 4:
        s |= {f"{prefix}.downsample.0.weight": (planes * 4, cin, 1, 1), **_bn(f"{prefix}.downsample.1", planes * 4)}
    return s


def official_hrnet_shapes(width: int) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the official HRNet-W``width`` ImageNet classification state dict."""
    s = {"conv1.weight": (64, 3, 3, 3), **_bn("bn1", 64), "conv2.weight": (64, 64, 3, 3), **_bn("bn2", 64)}
    for b in range(4):
        s |= _bottleneck(f"layer1.{b}", 64 if b == 0 else 256, 64)
    previous = [256]
    for stage, modules in ((2, 1), (3, 4), (4, 3)):
        channels = [width * 2**i for i in range(stage)]
        t = f"transition{stage - 1}"
        for i, c in enumerate(channels):
            if i < len(previous) and previous[i] != c:
                s |= {f"{t}.{i}.0.weight": (c, previous[i], 3, 3), **_bn(f"{t}.{i}.1", c)}
            elif i >= len(previous):
                s |= {f"{t}.{i}.0.0.weight": (c, previous[-1], 3, 3), **_bn(f"{t}.{i}.0.1", c)}
        for m in range(modules):
            p = f"stage{stage}.{m}"
            for i, c in enumerate(channels):
                for blk in range(4):
                    q = f"{p}.branches.{i}.{blk}"
                    s |= {f"{q}.conv1.weight": (c, c, 3, 3), **_bn(f"{q}.bn1", c),
                          f"{q}.conv2.weight": (c, c, 3, 3), **_bn(f"{q}.bn2", c)}
            for i, ci in enumerate(channels):
                for j, cj in enumerate(channels):
                    q = f"{p}.fuse_layers.{i}.{j}"
                    if j > i:
                        s |= {f"{q}.0.weight": (ci, cj, 1, 1), **_bn(f"{q}.1", ci)}
                    for k in range(i - j):
                        cout = ci if k == i - j - 1 else cj
                        s |= {f"{q}.{k}.0.weight": (cout, cj, 3, 3), **_bn(f"{q}.{k}.1", cout)}
        previous = channels
    head = [32, 64, 128, 256]
    for i, c in enumerate(previous):
        s |= _bottleneck(f"incre_modules.{i}.0", c, head[i])
    for i in range(3):
        cin, cout = head[i] * 4, head[i + 1] * 4
        s |= {f"downsamp_modules.{i}.0.weight": (cout, cin, 3, 3), f"downsamp_modules.{i}.0.bias": (cout,),
              **_bn(f"downsamp_modules.{i}.1", cout)}
    s |= {"final_layer.0.weight": (2048, 1024, 1, 1), "final_layer.0.bias": (2048,), **_bn("final_layer.1", 2048),
          "classifier.weight": (1000, 2048), "classifier.bias": (1000,)}
    return s


@pytest.mark.parametrize("width", sorted(PUBLISHED_MILLIONS))
def test_the_written_out_layout_has_the_published_parameter_count(width):
    # Guards the layout above: parameters (not BatchNorm buffers) match the paper's model sizes.
    params = sum(math.prod(shape) for key, shape in official_hrnet_shapes(width).items()
                 if not key.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert params / 1e6 == pytest.approx(PUBLISHED_MILLIONS[width], abs=0.05)


@pytest.mark.parametrize("width", sorted(PUBLISHED_MILLIONS))
def test_parameter_names_and_shapes_are_the_official_trunk(width):
    backbone = build_backbone(f"hrnet_w{width}", output_stride=4)
    trunk = {k: v for k, v in official_hrnet_shapes(width).items() if not k.startswith(HEAD)}
    assert {k: tuple(v.shape) for k, v in backbone.state_dict().items()} == trunk


def _official_file(tmp_path, width: int, drop: str | None = None, extra: str | None = None):
    torch.manual_seed(0)
    state = {k: torch.randn(shape) if shape else torch.tensor(7) for k, shape in official_hrnet_shapes(width).items()}
    if drop:
        del state[drop]
    if extra:
        state[extra] = torch.zeros(1)
    path = tmp_path / f"hrnetv2_w{width}_imagenet_pretrained.pth"
    torch.save(state, path)
    return path, state


def test_an_official_checkpoint_loads_strictly_without_its_classification_head(tmp_path):
    path, state = _official_file(tmp_path, 18)
    backbone = build_backbone("hrnet_w18", output_stride=4, pretrained=path)
    loaded = backbone.state_dict()
    for key in ("conv1.weight", "layer1.0.downsample.0.weight", "transition3.3.0.0.weight",
                "stage4.2.fuse_layers.3.0.2.1.running_var", "stage3.3.branches.2.3.conv2.weight"):
        assert torch.equal(loaded[key], state[key]), key


def test_a_checkpoint_with_a_missing_or_foreign_key_is_refused(tmp_path):
    path, _ = _official_file(tmp_path, 18, drop="stage2.0.fuse_layers.0.1.0.weight")
    with pytest.raises(WeightsError, match=r"missing keys: stage2\.0\.fuse_layers\.0\.1\.0\.weight"):
        build_backbone("hrnet_w18", output_stride=4, pretrained=path)
    path, _ = _official_file(tmp_path, 18, extra="stage5.0.weight")
    with pytest.raises(WeightsError, match=r"unexpected keys: stage5\.0\.weight"):
        build_backbone("hrnet_w18", output_stride=4, pretrained=path)


def test_features_have_the_stated_strides_and_channels_at_an_odd_size():
    backbone = build_backbone("hrnet_w18", output_stride=4).eval()
    size = (67, 45)
    with torch.no_grad():
        features = backbone(torch.randn(2, 3, *size))
    assert set(features) == set(backbone.stage_channels) == set(backbone.stage_strides)
    for name, f in features.items():
        stride = backbone.stage_strides[name]
        # Each stride-2 conv gives ceil(n / 2), so a feature at stride s is ceil(n / s) in size.
        assert f.shape == (2, backbone.stage_channels[name], math.ceil(size[0] / stride), math.ceil(size[1] / stride))
    assert backbone.out_feature == "hrnetv2" and backbone.out_channels == 15 * 18 and backbone.output_stride == 4
    # The concatenation starts with the finest branch itself.
    assert torch.equal(features["hrnetv2"][:, :18], features["stage1"])


def test_every_branch_reaches_the_output():
    backbone = build_backbone("hrnet_w18", output_stride=4)
    backbone(torch.randn(1, 3, 64, 64))["hrnetv2"].square().mean().backward()
    no_grad = [n for n, p in backbone.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


def test_bad_options_are_explained():
    assert FIXED_OUTPUT_STRIDES["hrnet_w48"] == 4
    with pytest.raises(ValueError, match=r"hrnet_w32 has output stride 4.*model\.output_stride=4"):
        build_backbone("hrnet_w32", output_stride=16)
    with pytest.raises(ValueError, match="HRNet's width is in its name"):
        build_backbone("hrnet_w18", output_stride=4, base_width=32)
    with pytest.raises(ValueError, match="unknown backbone 'hrnet_w40'"):
        build_backbone("hrnet_w40", output_stride=4)
