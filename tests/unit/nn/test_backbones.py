"""Backbones (dilated ResNet, VGG-16 LargeFOV), their torchvision naming, and safe weight loading."""

from __future__ import annotations

import math
import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from humanparse.nn import (
    ResNet,
    VGG16LargeFOV,
    WeightsError,
    load_backbone_weights,
    read_state_dict,
    resnet,
)

ODD_SIZE = (97, 131)

# ---------------------------------------------------------------- torchvision's layouts
# Written out from torchvision's architecture rules, independently of the code under test.
RESNET_BLOCKS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)),
                 50: ("bottleneck", (3, 4, 6, 3)), 101: ("bottleneck", (3, 4, 23, 3))}
VGG16_CONVS = [  # (index in features, in channels, out channels)
    (0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256), (14, 256, 256),
    (17, 256, 512), (19, 512, 512), (21, 512, 512), (24, 512, 512), (26, 512, 512), (28, 512, 512),
]


def _bn_shapes(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (channels,), f"{prefix}.bias": (channels,), f"{prefix}.running_mean": (channels,),
            f"{prefix}.running_var": (channels,), f"{prefix}.num_batches_tracked": ()}


def torchvision_resnet_shapes(depth: int) -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvision's ``resnet{depth}().state_dict()``."""
    kind, counts = RESNET_BLOCKS[depth]
    expansion = 1 if kind == "basic" else 4
    shapes = {"conv1.weight": (64, 3, 7, 7), **_bn_shapes("bn1", 64)}
    in_channels = 64
    for layer, (planes, count) in enumerate(zip((64, 128, 256, 512), counts), start=1):
        for block in range(count):
            p = f"layer{layer}.{block}"
            if kind == "basic":
                shapes[f"{p}.conv1.weight"] = (planes, in_channels, 3, 3)
                shapes.update(_bn_shapes(f"{p}.bn1", planes))
                shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                shapes.update(_bn_shapes(f"{p}.bn2", planes))
            else:
                shapes[f"{p}.conv1.weight"] = (planes, in_channels, 1, 1)
                shapes.update(_bn_shapes(f"{p}.bn1", planes))
                shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                shapes.update(_bn_shapes(f"{p}.bn2", planes))
                shapes[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
                shapes.update(_bn_shapes(f"{p}.bn3", planes * 4))
            if block == 0 and (layer > 1 or in_channels != planes * expansion):
                shapes[f"{p}.downsample.0.weight"] = (planes * expansion, in_channels, 1, 1)
                shapes.update(_bn_shapes(f"{p}.downsample.1", planes * expansion))
            in_channels = planes * expansion
    shapes["fc.weight"] = (1000, in_channels)
    shapes["fc.bias"] = (1000,)
    return shapes


def torchvision_vgg16_shapes() -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvision's ``vgg16().state_dict()``; the classifier's shapes are
    shrunk (the real classifier.0 alone is 400 MB) since the loader drops it by name."""
    shapes: dict[str, tuple[int, ...]] = {}
    for index, cin, cout in VGG16_CONVS:
        shapes[f"features.{index}.weight"] = (cout, cin, 3, 3)
        shapes[f"features.{index}.bias"] = (cout,)
    for index in (0, 3, 6):
        shapes[f"classifier.{index}.weight"] = (10, 8)
        shapes[f"classifier.{index}.bias"] = (10,)
    return shapes


def random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        k: torch.randint(0, 1000, s, generator=g) if k.endswith("num_batches_tracked") else torch.randn(s, generator=g)
        for k, s in shapes.items()
    }


def save_both(state: dict[str, torch.Tensor], folder, stem: str):
    pth, st = folder / f"{stem}.pth", folder / f"{stem}.safetensors"
    torch.save(state, pth)
    save_file(state, str(st))
    return pth, st


# ---------------------------------------------------------------- feature sizes


@pytest.mark.parametrize("depth", [18, 34, 50, 101])
@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_resnet_feature_sizes(depth, output_stride):
    net = resnet(depth, output_stride=output_stride, base_width=8).eval()
    with torch.no_grad():
        features = net(torch.randn(1, 3, *ODD_SIZE))
    expected_strides = {"stem": 2, "stage1": 4, "stage2": 8, "stage3": min(16, output_stride), "stage4": output_stride}
    expansion = 1 if depth < 50 else 4
    expected_channels = {"stem": 8, "stage1": 8 * expansion, "stage2": 16 * expansion,
                         "stage3": 32 * expansion, "stage4": 64 * expansion}
    assert set(features) == set(expected_strides)
    for name, stride in expected_strides.items():
        h, w = (math.ceil(s / stride) for s in ODD_SIZE)
        assert tuple(features[name].shape) == (1, expected_channels[name], h, w), name
    assert net.output_stride == output_stride and net.out_feature == "stage4"
    assert net.stage_channels == expected_channels and net.stage_strides == expected_strides
    assert net.out_channels == 64 * expansion


@pytest.mark.parametrize("depth", [18, 50])
def test_resnet_dilation_follows_deeplab(depth):
    """OS 16 dilates layer4 by 2; OS 8 dilates layer3 by 2 and layer4 by 4; the first block of
    a dilated stage keeps the previous dilation (torchvision's rule)."""
    conv = "conv1" if depth < 50 else "conv2"  # the block's 3x3 conv that carries stride/dilation
    os16 = resnet(depth, output_stride=16, base_width=8)
    assert getattr(os16.layer3[1], conv).dilation == (1, 1)
    assert getattr(os16.layer4[0], conv).dilation == (1, 1) and getattr(os16.layer4[0], conv).stride == (1, 1)
    assert getattr(os16.layer4[1], conv).dilation == (2, 2)
    os8 = resnet(depth, output_stride=8, base_width=8)
    assert getattr(os8.layer3[0], conv).stride == (1, 1) and getattr(os8.layer3[0], conv).dilation == (1, 1)
    assert getattr(os8.layer3[1], conv).dilation == (2, 2)
    assert getattr(os8.layer4[0], conv).dilation == (2, 2)
    assert getattr(os8.layer4[1], conv).dilation == (4, 4)
    os32 = resnet(depth, output_stride=32, base_width=8)
    assert getattr(os32.layer4[0], conv).stride == (2, 2)
    assert all(m.dilation == (1, 1) for m in os32.modules() if isinstance(m, torch.nn.Conv2d))


def test_vgg_largefov_is_output_stride_8():
    net = VGG16LargeFOV().eval()
    size = (57, 83)
    with torch.no_grad():
        features = net(torch.randn(1, 3, *size))
    assert tuple(features["fc7"].shape) == (1, 1024, math.ceil(57 / 8), math.ceil(83 / 8))
    assert net.output_stride == 8 and net.out_feature == "fc7" and net.out_channels == 1024
    for name, stride in net.stage_strides.items():
        assert features[name].shape[-2:] == (math.ceil(57 / stride), math.ceil(83 / stride)), name
    assert net.features[24].dilation == (2, 2) and net.features[28].dilation == (2, 2)
    assert net.fc6.dilation == (12, 12) and net.fc6.kernel_size == (3, 3)
    assert [p.stride for p in (net.features[23], net.features[30])] == [1, 1]  # pool4, pool5


def test_bad_backbone_options():
    with pytest.raises(ValueError, match="18, 34, 50, 101"):
        resnet(152)
    with pytest.raises(ValueError, match="8, 16, 32"):
        resnet(18, output_stride=4)
    with pytest.raises(ValueError, match="base_width"):
        resnet(18, base_width=0)


def test_init_is_kaiming_and_unit_batchnorm():
    net = resnet(18, base_width=16)
    assert torch.all(net.bn1.weight == 1) and torch.all(net.bn1.bias == 0)
    # Kaiming fan-out normal: std = sqrt(2 / (out_channels * k * k)).
    weight = net.layer3[0].conv2.weight
    expected_std = math.sqrt(2.0 / (weight.shape[0] * 9))
    assert abs(weight.std().item() - expected_std) / expected_std < 0.1


# ---------------------------------------------------------------- torchvision weights


@pytest.mark.parametrize("depth", [18, 50])
def test_torchvision_resnet_weights_load_strictly(depth, tmp_path):
    shapes = torchvision_resnet_shapes(depth)
    net = resnet(depth, output_stride=8)
    model_shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert model_shapes == {k: s for k, s in shapes.items() if not k.startswith("fc.")}

    state = random_state(shapes, seed=depth)
    for path in save_both(state, tmp_path, f"resnet{depth}"):
        fresh = resnet(depth, output_stride=8)
        load_backbone_weights(fresh, path)
        loaded = fresh.state_dict()
        assert all(torch.equal(loaded[k], state[k]) for k in loaded), path.name


def test_resnet101_names_match_torchvision():
    shapes = torchvision_resnet_shapes(101)
    net = resnet(101, output_stride=16)
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == {
        k: s for k, s in shapes.items() if not k.startswith("fc.")
    }


def test_torchvision_vgg16_weights_load_strictly(tmp_path):
    net = VGG16LargeFOV()
    shapes = torchvision_vgg16_shapes()
    model_shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert {k: s for k, s in model_shapes.items() if k.startswith("features.")} == {
        k: s for k, s in shapes.items() if k.startswith("features.")
    }
    assert set(model_shapes) - set(shapes) == {"fc6.weight", "fc6.bias", "fc7.weight", "fc7.bias"}
    assert model_shapes["fc6.weight"] == (1024, 512, 3, 3) and model_shapes["fc7.weight"] == (1024, 1024, 1, 1)

    state = random_state(shapes, seed=16)
    for path in save_both(state, tmp_path, "vgg16"):
        fresh = VGG16LargeFOV()
        fc6_before = fresh.fc6.weight.detach().clone()
        load_backbone_weights(fresh, path)
        loaded = fresh.state_dict()
        assert all(torch.equal(loaded[k], state[k]) for k in loaded if k.startswith("features.")), path.name
        assert torch.equal(fresh.fc6.weight, fc6_before)  # new layers keep their initialisation


# ---------------------------------------------------------------- loader behaviour


def _small_resnet_state() -> dict[str, torch.Tensor]:
    return random_state({k: tuple(v.shape) for k, v in resnet(18, base_width=8).state_dict().items()}, seed=1)


@pytest.mark.parametrize("wrap", ["state_dict", "model", "module_prefix"])
def test_nested_and_distributed_checkpoints(wrap, tmp_path):
    state = _small_resnet_state()
    if wrap == "module_prefix":
        content = {f"module.{k}": v for k, v in state.items()}
    else:
        content = {wrap: state, "epoch": 3}  # extra non-tensor entries beside the state dict
    path = tmp_path / "checkpoint.pth"
    torch.save(content, path)
    net = resnet(18, base_width=8)
    load_backbone_weights(net, path)
    assert torch.equal(net.layer2[0].downsample[0].weight, state["layer2.0.downsample.0.weight"])


def test_missing_unexpected_and_wrong_shape_are_listed(tmp_path):
    state = _small_resnet_state()
    del state["layer1.0.conv1.weight"]
    state["layer5.0.conv1.weight"] = torch.zeros(3)
    state["layer2.0.bn1.bias"] = torch.zeros(99)
    path = tmp_path / "bad.safetensors"
    save_file(state, str(path))
    net = resnet(18, base_width=8)
    before = net.conv1.weight.detach().clone()
    with pytest.raises(WeightsError) as info:
        load_backbone_weights(net, path)
    message = str(info.value)
    assert str(path) in message
    assert "missing keys: layer1.0.conv1.weight" in message
    assert "unexpected keys: layer5.0.conv1.weight" in message
    assert "layer2.0.bn1.bias (file (99,), model (16,))" in message
    assert isinstance(info.value, ValueError)
    assert torch.equal(net.conv1.weight, before)  # nothing loaded on failure


def test_classifier_is_only_dropped_when_the_module_lacks_it(tmp_path):
    """``fc.*`` is ImageNet's classifier for a ResNet, but fc6/fc7 are VGG-LargeFOV's own."""
    state = {**_small_resnet_state(), "fc.weight": torch.zeros(1000, 64), "fc.bias": torch.zeros(1000)}
    path = tmp_path / "with_fc.pth"
    torch.save(state, path)
    load_backbone_weights(resnet(18, base_width=8), path)  # fc dropped, no error
    vgg_state = random_state(torchvision_vgg16_shapes())
    vgg_state["fc6.weight"] = torch.zeros(1024, 512, 5, 5)  # a wrong fc6 must not be dropped silently
    vgg_path = tmp_path / "vgg.safetensors"
    save_file(vgg_state, str(vgg_path))
    with pytest.raises(WeightsError, match=r"fc6\.weight \(file \(1024, 512, 5, 5\)"):
        load_backbone_weights(VGG16LargeFOV(), vgg_path)


def test_old_checkpoints_without_num_batches_tracked_load(tmp_path):
    state = {k: v for k, v in _small_resnet_state().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(state, path)
    net = resnet(18, base_width=8)
    load_backbone_weights(net, path)
    assert torch.equal(net.bn1.running_var, state["bn1.running_var"])


class _Exploit:
    """Unpickling this would create a folder: proof that pickled code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_pickled_code_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "payload": _Exploit(str(marker))}, path)
    with pytest.raises(WeightsError, match="only tensors are loaded") as info:
        load_backbone_weights(resnet(18, base_width=8), path)
    assert str(path) in str(info.value)
    assert not marker.exists()
    # The same holds for a plain pickle file.
    plain = tmp_path / "evil.pt"
    plain.write_bytes(pickle.dumps(_Exploit(str(marker)), protocol=2))
    with pytest.raises(WeightsError, match="evil.pt"):
        read_state_dict(plain)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["random.pth", "random.safetensors"])
def test_random_bytes_give_a_clear_error(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(os.urandom(4096))
    with pytest.raises(WeightsError, match="not a (readable PyTorch weights|valid safetensors) file") as info:
        read_state_dict(path)
    assert info.value.path == str(path)


def test_other_bad_files(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        read_state_dict(tmp_path / "absent.pth")
    npz = tmp_path / "weights.npz"
    npz.write_bytes(b"x")
    with pytest.raises(WeightsError, match=r"unsupported weights file type '\.npz'.*\.safetensors"):
        read_state_dict(npz)
    listing = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], listing)
    with pytest.raises(WeightsError, match="holds a list, not a state dict"):
        read_state_dict(listing)
    mixed = tmp_path / "mixed.pth"
    torch.save({"conv1.weight": torch.zeros(2), "lr": 0.1}, mixed)
    with pytest.raises(WeightsError, match="not named tensors: lr"):
        read_state_dict(mixed)


def test_resnet_is_a_features_only_module():
    net = resnet(18, base_width=8)
    assert isinstance(net, ResNet)
    assert not hasattr(net, "fc") and not any(k.startswith("fc.") for k in net.state_dict())
