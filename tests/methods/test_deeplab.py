"""DeepLab and attention-to-scale: shapes on any input size, heads, gradients, the attention's
merge, memory formats, the model registry, torch.export and ONNX export."""

from __future__ import annotations

import warnings

import pytest
import torch

from helpers import TINY_BACKBONE as TINY, expected_size
from humanparse.models import AttentionToScale, DeepLab, ModelOutput, build_model
from humanparse.nn import WeightsError, resnet

NUM_CLASSES = 5


@pytest.mark.parametrize(
    "options, stride",
    [
        ({**TINY, "head": "aspp_v2", "output_stride": 8}, 8),
        ({**TINY, "head": "aspp_v3", "output_stride": 16}, 16),
        ({"backbone": "resnet34", "base_width": 8, "head": "aspp_v3", "output_stride": 32}, 32),
        ({"backbone": "resnet50", "base_width": 8, "output_stride": 8}, 8),  # default head: aspp_v3
        ({"backbone": "vgg16"}, 8),  # default head: largefov
        ({"backbone": "vgg16", "head": "aspp_v2", "output_stride": 16}, 8),  # VGG-16 LargeFOV is always 8
        ({**TINY, "head": "aspp_v3_plus", "output_stride": 16}, 4),  # v3+: the decoder's stride-4 logits
        ({"backbone": "efficientnet_lite0", "head": "aspp_v3_plus", "output_stride": 16}, 4),
    ],
    ids=["r18-v2-os8", "r18-v3-os16", "r34-v3-os32", "r50-os8", "vgg-largefov", "vgg-v2", "r18-v3plus", "lite0-v3plus"],
)
def test_deeplab_shapes_on_odd_sizes(options, stride):
    model = DeepLab(NUM_CLASSES, **options).eval()
    assert model.output_stride == stride
    for size in ((97, 131), (41, 30)):
        with torch.no_grad():
            out = model(torch.randn(2, 3, *size))
        assert isinstance(out, ModelOutput)
        assert tuple(out.logits.shape) == (2, NUM_CLASSES, *expected_size(size, stride))
        assert out.aux_logits == [] and out.extras == {}


def test_default_heads():
    assert DeepLab(NUM_CLASSES, **TINY).head_name == "aspp_v3"
    assert DeepLab(NUM_CLASSES, backbone="vgg16").head_name == "largefov"


@pytest.mark.parametrize("head", ["aspp_v2", "aspp_v3", "aspp_v3_plus"])
def test_deeplab_backward_reaches_every_parameter(head):
    model = DeepLab(NUM_CLASSES, head=head, output_stride=16, **TINY).train()
    out = model(torch.randn(2, 3, 65, 47))
    target = torch.randint(0, NUM_CLASSES, out.logits.shape[:1] + out.logits.shape[2:])
    torch.nn.functional.cross_entropy(out.logits, target).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert no_grad == []
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_the_v3_plus_decoder_reads_the_stride_4_features():
    """v3+'s decoder takes the backbone's stride-4 map and its logits have that map's size."""
    model = DeepLab(NUM_CLASSES, head="aspp_v3_plus", output_stride=16, **TINY).eval()
    low = model.backbone.stage_channels["stage1"]
    assert model.head.reduce[0].in_channels == low
    maps = {}
    model.backbone.register_forward_hook(lambda m, i, out: maps.update(out))
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 64, 48)).logits
    assert logits.shape[-2:] == maps["stage1"].shape[-2:] == (16, 12)


NUM_JOINTS = 16


def test_joints_come_from_the_v3_plus_decoder_at_its_stride():
    model = DeepLab(NUM_CLASSES, head="aspp_v3_plus", output_stride=16, num_joints=NUM_JOINTS, **TINY).eval()
    plain = DeepLab(NUM_CLASSES, head="aspp_v3_plus", output_stride=16, **TINY).eval()
    assert plain.num_joints is None and plain(torch.randn(1, 3, 64, 48)).heatmaps is None
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("joint_head.")})
    x = torch.randn(2, 3, 97, 71)
    with torch.no_grad():
        out, reference = model(x), plain(x)
    assert tuple(out.heatmaps.shape) == (2, NUM_JOINTS, *expected_size((97, 71), 4))
    assert out.heatmaps.shape[-2:] == out.logits.shape[-2:]
    # The joint head is beside the parsing classifier: the same weights parse the same.
    torch.testing.assert_close(out.logits, reference.logits)


def test_joint_heatmaps_train_the_shared_network_and_not_the_classifier():
    model = DeepLab(NUM_CLASSES, head="aspp_v3_plus", output_stride=16, num_joints=NUM_JOINTS, **TINY).train()
    model(torch.randn(2, 3, 64, 48)).heatmaps.square().mean().backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0 and model.head.fuse[0][0].weight.grad.abs().sum() > 0
    assert model.joint_head.out.weight.grad.abs().sum() > 0
    assert model.head.classifier.weight.grad is None


def test_joints_need_the_v3_plus_decoder():
    with pytest.raises(ValueError, match="num_joints needs head 'aspp_v3_plus'"):
        DeepLab(NUM_CLASSES, head="aspp_v3", num_joints=NUM_JOINTS, **TINY)
    with pytest.raises(ValueError, match="num_joints"):
        DeepLab(NUM_CLASSES, head="aspp_v3_plus", num_joints=0, **TINY)


def test_batch_of_one_trains():
    """The v3 image-pooling branch has no BatchNorm, so a batch of one still trains."""
    model = DeepLab(NUM_CLASSES, head="aspp_v3", **TINY).train()
    model(torch.randn(1, 3, 64, 64)).logits.sum().backward()
    assert model.head.aspp.pooling.conv.weight.grad is not None


def test_parameter_groups_are_named_backbone_and_head():
    model = DeepLab(NUM_CLASSES, **TINY)
    prefixes = {name.split(".")[0] for name, _ in model.named_parameters()}
    assert prefixes == {"backbone", "head"}
    a2s = AttentionToScale(NUM_CLASSES, attention_channels=8, **TINY)
    assert {name.split(".")[0] for name, _ in a2s.named_parameters()} == {"backbone", "head", "attention"}
    # The shared network is DeepLab's, parameter for parameter.
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in a2s.state_dict().items() if not k.startswith("attention.")
    }


# ---------------------------------------------------------------- attention to scale


@pytest.mark.parametrize("scales", [(1.0, 0.75, 0.5), (0.5, 1.25)], ids=["paper", "no-unit-scale"])
def test_attention_to_scale_outputs(scales):
    model = AttentionToScale(NUM_CLASSES, scales=scales, output_stride=8, attention_channels=8, **TINY).eval()
    size = (67, 93)
    with torch.no_grad():
        out = model(torch.randn(2, 3, *size))
    h, w = expected_size(size, 8)
    assert tuple(out.logits.shape) == (2, NUM_CLASSES, h, w)
    assert len(out.aux_logits) == len(scales)
    assert all(tuple(a.shape) == (2, NUM_CLASSES, h, w) for a in out.aux_logits)
    weights = out.extras["scale_weights"]
    assert tuple(weights.shape) == (2, len(scales), h, w)
    assert torch.all(weights >= 0)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2, h, w))
    merged = sum(weights[:, i : i + 1] * logits for i, logits in enumerate(out.aux_logits))
    torch.testing.assert_close(out.logits, merged)


def test_unit_scale_branch_equals_plain_deeplab():
    """The scale-1.0 output is the shared DeepLab's own prediction on the input."""
    model = AttentionToScale(NUM_CLASSES, scales=(1.0, 0.5), attention_channels=8, **TINY).eval()
    x = torch.randn(1, 3, 50, 70)
    with torch.no_grad():
        out = model(x)
        plain = DeepLab.features_and_logits(model, x)[1]
    torch.testing.assert_close(out.aux_logits[0], plain)


def test_attention_to_scale_backward():
    model = AttentionToScale(NUM_CLASSES, scales=(1.0, 0.5), attention_channels=8, **TINY).train()
    out = model(torch.randn(2, 3, 48, 56))
    loss = out.logits.sum() + sum(a.sum() for a in out.aux_logits)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.attention[0].weight.grad.abs().sum() > 0


def test_attention_to_scale_bad_options():
    with pytest.raises(ValueError, match="scales"):
        AttentionToScale(NUM_CLASSES, scales=[], **TINY)
    with pytest.raises(ValueError, match="scales"):
        AttentionToScale(NUM_CLASSES, scales=[1.0, -0.5], **TINY)
    with pytest.raises(ValueError, match="distinct"):
        AttentionToScale(NUM_CLASSES, scales=[1.0, 1], **TINY)
    with pytest.raises(ValueError, match="attention_channels"):
        AttentionToScale(NUM_CLASSES, attention_channels=0, **TINY)


# ---------------------------------------------------------------- memory format


@pytest.mark.parametrize(
    "spec",
    [{"name": "deeplab"}, {"name": "attention_to_scale", "scales": [1.0, 0.75], "attention_channels": 8}],
    ids=lambda spec: spec["name"],
)
def test_channels_last_matches_contiguous(spec):
    torch.manual_seed(0)
    model = build_model({**spec, "num_classes": NUM_CLASSES, **TINY}).eval()
    x = torch.randn(2, 3, 61, 77)
    with torch.no_grad():
        reference = model(x).logits
        model = model.to(memory_format=torch.channels_last)
        channels_last = model(x.contiguous(memory_format=torch.channels_last)).logits
    torch.testing.assert_close(channels_last, reference, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------- registry and options


def test_build_model_from_spec():
    model = build_model({"name": "deeplab", "num_classes": 7, "backbone": "resnet18", "base_width": 8,
                         "output_stride": 8, "head": "aspp_v2", "pretrained": None})
    assert isinstance(model, DeepLab) and model.num_classes == 7 and model.head_name == "aspp_v2"
    a2s = build_model({"name": "attention_to_scale", "num_classes": 7, "scales": [1.0, 0.5], **TINY})
    assert isinstance(a2s, AttentionToScale) and a2s.scales == (1.0, 0.5)
    with pytest.raises(ValueError, match="deeplab"):
        build_model({"name": "deeplab", "num_classes": 7, "colour": "red"})


def test_unknown_options_list_the_choices():
    with pytest.raises(ValueError, match="resnet18, resnet34, resnet50, resnet101, vgg16"):
        DeepLab(NUM_CLASSES, backbone="resnet152")
    with pytest.raises(ValueError, match="aspp_v2, aspp_v3, aspp_v3_plus, largefov"):
        DeepLab(NUM_CLASSES, head="psp", **TINY)
    with pytest.raises(ValueError, match="largefov"):
        DeepLab(NUM_CLASSES, head="largefov", **TINY)
    with pytest.raises(ValueError, match="8, 16, 32"):
        DeepLab(NUM_CLASSES, output_stride=4, **TINY)
    with pytest.raises(ValueError, match="num_classes"):
        DeepLab(0, **TINY)
    with pytest.raises(ValueError, match="dropout"):
        DeepLab(NUM_CLASSES, dropout=1.5, **TINY)
    with pytest.raises(ValueError, match="base_width"):
        DeepLab(NUM_CLASSES, backbone="vgg16", base_width=8)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        DeepLab(NUM_CLASSES, **TINY)(torch.randn(1, 1, 32, 32))


def test_pretrained_weights_reach_the_backbone(tmp_path):
    source = resnet(18, base_width=8)
    torch.nn.init.normal_(source.layer3[1].conv2.weight)
    path = tmp_path / "imagenet.pth"
    torch.save(source.state_dict(), path)
    model = DeepLab(NUM_CLASSES, pretrained=str(path), output_stride=8, **TINY)
    assert torch.equal(model.backbone.layer3[1].conv2.weight, source.layer3[1].conv2.weight)
    with pytest.raises(WeightsError, match="absent.pth"):
        DeepLab(NUM_CLASSES, pretrained=str(tmp_path / "absent.pth"), **TINY)


# ---------------------------------------------------------------- compile and export


class _LogitsOnly(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).logits


def test_exports_with_dynamic_size():
    """torch.export traces the whole graph (so torch.compile needs no graph break) and keeps the
    input size symbolic: the exported program is right at a size other than the traced one."""
    model = _LogitsOnly(AttentionToScale(NUM_CLASSES, scales=(1.0, 0.75), attention_channels=8, **TINY)).eval()
    height, width = torch.export.Dim("height", min=32, max=1024), torch.export.Dim("width", min=32, max=1024)
    program = torch.export.export(model, (torch.randn(1, 3, 64, 64),), dynamic_shapes={"x": {2: height, 3: width}})
    x = torch.randn(1, 3, 97, 75)
    with torch.no_grad():
        expected = model(x)
    result = program.module()(x)
    assert tuple(result.shape) == (1, NUM_CLASSES, *expected_size((97, 75), 16))
    torch.testing.assert_close(result, expected)


def test_onnx_export_with_dynamic_size(tmp_path):
    """The ONNX graph computes every size from the input's: right at sizes other than the traced one."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = _LogitsOnly(AttentionToScale(NUM_CLASSES, scales=(1.0, 0.75), attention_channels=8, **TINY)).eval()
    path = tmp_path / "model.onnx"
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript-based exporter is fast here
        torch.onnx.export(model, (torch.randn(1, 3, 64, 64),), str(path), dynamo=False, input_names=["image"],
                          output_names=["logits"], dynamic_axes={"image": axes, "logits": axes})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for size in ((64, 64), (97, 75), (130, 41)):
        x = torch.randn(2, 3, *size)
        (result,) = session.run(None, {"image": x.numpy()})
        with torch.no_grad():
            expected = model(x).numpy()
        assert result.shape == expected.shape == (2, NUM_CLASSES, *expected_size(size, 16))
        assert abs(result - expected).max() < 1e-4
