"""SS-NAN: the neural aggregation is invariant to the order of the scales and takes any number of
them, its weights sum to one per pixel, deep supervision reaches every scale's classifier, the
pooling baselines, the per-output joint loss, the scale-weight maps of ``predict``, export, and
a learning test with both training phases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from helpers import CPU_TRAINING, TINY_BACKBONE, metrics_rows
from humanparse.cli import main
from humanparse.config import load_config
from humanparse.data.readers import open_dataset
from humanparse.engine.train import run_train
from humanparse.evaluation import majority_scores
from humanparse.engine.task import HumanTask
from humanparse.inference.predictor import Predictor, normalize
from humanparse.inference.export import export_onnx
from humanparse.losses import ParsingLoss, StructureSensitiveLoss
from humanparse.models import SSNAN, DeepLab, ModelOutput, predicts_scale_weights
from humanparse.inference.model_file import load_model, save_model
from humanparse.schemas import LIP, LabelSchema

NUM_CLASSES = 5
LIP_5 = LabelSchema(name="five", classes=("bg", "a", "b", "c", "d"))
TINY = {**TINY_BACKBONE, "output_stride": 8, "aggregation_channels": 8}


def _model(scales=(0.5, 0.75, 1.0), seed: int = 0, **options) -> SSNAN:
    torch.manual_seed(seed)
    model = SSNAN(NUM_CLASSES, scales=scales, **{**TINY, **options}).eval()
    # Scoring weights away from the near-uniform start, so that the weights differ per scale and pixel.
    with torch.no_grad():
        if model.aggregation is not None:
            model.aggregation.score.weight.normal_(0.0, 0.5)
        model.head.classifier.weight.normal_(0.0, 0.1)
    return model


def _forward(model: torch.nn.Module, x: torch.Tensor):
    with torch.no_grad():
        return model(x)


# ----------------------------------------------------------------------------- aggregation


def test_order_of_scales_does_not_matter():
    reference = _model((0.5, 0.75, 1.0))
    permuted = SSNAN(NUM_CLASSES, scales=(1.0, 0.5, 0.75), **TINY).eval()
    permuted.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, 57, 45)
    a, b = _forward(reference, x), _forward(permuted, x)
    torch.testing.assert_close(b.logits, a.logits, atol=1e-5, rtol=1e-5)
    order = [2, 0, 1]  # where each of permuted's scales sits in reference's list
    torch.testing.assert_close(b.extras["scale_weights"], a.extras["scale_weights"][:, order], atol=1e-6, rtol=1e-5)
    for i, j in enumerate(order):
        torch.testing.assert_close(b.aux_logits[i], a.aux_logits[j])
    # The weights really differ between scales and pixels (else any order would agree trivially).
    weights = a.extras["scale_weights"]
    assert weights.amax() - weights.amin() > 0.05


@pytest.mark.parametrize("scales", [(1.0,), (0.5, 1.0), (0.5, 0.75, 1.0, 1.25), (0.6, 0.9)],
                         ids=["one", "two", "four", "without-1.0"])
def test_any_number_of_scales_with_the_same_weights(scales):
    trained = _model((0.5, 0.75, 1.0))
    model = SSNAN(NUM_CLASSES, scales=scales, **TINY).eval()
    model.load_state_dict(trained.state_dict())  # the scoring module does not depend on the scales
    x = torch.randn(2, 3, 57, 45)
    out = _forward(model, x)
    trained.set_scales(scales)  # eval.network_scales: the same network on other scales after training
    torch.testing.assert_close(_forward(trained, x).logits, out.logits)
    h, w = 8, 6  # ceil(57 / 8), ceil(45 / 8): the scale-1.0 output grid
    assert tuple(out.logits.shape) == (2, NUM_CLASSES, h, w)
    assert len(out.aux_logits) == len(scales) and all(a.shape == out.logits.shape for a in out.aux_logits)
    weights = out.extras["scale_weights"]
    assert tuple(weights.shape) == (2, len(scales), h, w)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2, h, w))


def test_weights_sum_to_one_and_the_output_is_their_weighted_sum():
    model = _model()
    out = _forward(model, torch.randn(3, 3, 64, 48))
    weights = out.extras["scale_weights"]
    assert (weights > 0).all()
    torch.testing.assert_close(weights.sum(dim=1), torch.ones_like(weights[:, 0]))
    expected = sum(weights[:, s : s + 1] * out.aux_logits[s] for s in range(len(model.scales)))
    torch.testing.assert_close(out.logits, expected, atol=1e-5, rtol=1e-5)


def test_one_scale_is_the_plain_network():
    model = _model((1.0,))
    plain = DeepLab(NUM_CLASSES, backbone="resnet18", base_width=8, output_stride=8, head="dense").eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("aggregation.")})
    x = torch.randn(1, 3, 40, 40)
    torch.testing.assert_close(_forward(model, x).logits, _forward(plain, x).logits)


def test_pooling_baselines():
    neural = _model()
    x = torch.randn(2, 3, 48, 48)
    for aggregation, pool in (("average", lambda t: t.mean(0)), ("max", lambda t: t.amax(0))):
        model = SSNAN(NUM_CLASSES, aggregation=aggregation, **TINY).eval()
        model.load_state_dict({k: v for k, v in neural.state_dict().items() if not k.startswith("aggregation.")})
        out = _forward(model, x)
        assert out.extras == {} and not predicts_scale_weights(model)
        torch.testing.assert_close(out.logits, pool(torch.stack(out.aux_logits)))
        assert not any(name.startswith("aggregation.") for name, _ in model.named_parameters())
    assert predicts_scale_weights(neural)


def test_concat_aggregation_reads_the_scales_together_in_a_fixed_order():
    """The literal Eq. 3 layers: two 3x3 convs over the concatenated maps (S*C -> 512 -> N_S),
    a softmax over the scales. Its weights sum to one and give the output; its shapes depend on
    the number of scales, permuting the scales changes the output (unlike "neural"), and
    set_scales keeps their number."""
    reference = _model((0.5, 0.75, 1.0), aggregation="concat")
    assert predicts_scale_weights(reference)
    shapes = {name: tuple(p.shape) for name, p in reference.aggregation.named_parameters()}
    assert shapes == {"hidden.weight": (8, 3 * NUM_CLASSES, 3, 3), "hidden.bias": (8,),
                      "score.weight": (3, 8, 3, 3), "score.bias": (3,)}
    x = torch.randn(2, 3, 57, 45)
    out = _forward(reference, x)
    weights = out.extras["scale_weights"]
    assert tuple(out.logits.shape) == (2, NUM_CLASSES, 8, 6) and tuple(weights.shape) == (2, 3, 8, 6)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2, 8, 6))
    expected = sum(weights[:, s : s + 1] * out.aux_logits[s] for s in range(3))
    torch.testing.assert_close(out.logits, expected, atol=1e-5, rtol=1e-5)

    permuted = SSNAN(NUM_CLASSES, scales=(1.0, 0.5, 0.75), aggregation="concat", **TINY).eval()
    permuted.load_state_dict(reference.state_dict())  # same shapes: three scales
    moved = _forward(permuted, x)
    for i, j in enumerate([2, 0, 1]):  # the per-scale maps are the same, in the new order
        torch.testing.assert_close(moved.aux_logits[i], out.aux_logits[j])
    assert not torch.allclose(moved.logits, out.logits, atol=1e-3)

    reference.set_scales((0.6, 0.8, 1.0))  # as many scales: allowed, each in its slot
    with pytest.raises(ValueError, match=r"'concat' was built for 3 scales .* cannot run on 2"):
        reference.set_scales((0.5, 1.0))
    assert reference.scales == (0.6, 0.8, 1.0)
    with pytest.raises(RuntimeError, match="size mismatch"):
        SSNAN(NUM_CLASSES, scales=(0.5, 1.0), aggregation="concat", **TINY).load_state_dict(permuted.state_dict())


def test_bad_options():
    with pytest.raises(ValueError, match="neural, concat, average, max"):
        SSNAN(NUM_CLASSES, aggregation="attention", **{**TINY, "aggregation_channels": 8})
    with pytest.raises(ValueError, match="aggregation_channels"):
        SSNAN(NUM_CLASSES, **{**TINY, "aggregation_channels": 0})
    with pytest.raises(ValueError, match="distinct"):
        SSNAN(NUM_CLASSES, scales=(1.0, 1.0), **TINY)
    with pytest.raises(ValueError, match="deep_supervision"):
        SSNAN(NUM_CLASSES, deep_supervision="yes", **TINY)


# ----------------------------------------------------------------------------- deep supervision


def _classifier_outputs(model: SSNAN) -> list[torch.Tensor]:
    """Each call's output of the shared dense classifier (one per scale), kept for its gradient."""
    outputs: list[torch.Tensor] = []

    def keep(_module, _inputs, output):
        output.retain_grad()
        outputs.append(output)

    model.head.register_forward_hook(keep)
    return outputs


def test_deep_supervision_reaches_every_scale_classifier():
    model = _model().train()
    outputs = _classifier_outputs(model)
    out = model(torch.randn(2, 3, 48, 40))
    label = torch.randint(0, NUM_CLASSES, (2, 48, 40))
    assert len(outputs) == 3 and len(out.aux_logits) == 3
    # Smallest map first: the calls in the order of the scales (0.5, 0.75, 1.0).
    outputs = sorted(outputs, key=lambda o: o.shape[-2] * o.shape[-1])
    assert len({tuple(o.shape) for o in outputs}) == 3
    loss = ParsingLoss()
    for s, logits in enumerate(out.aux_logits):
        for o in outputs:
            o.grad = None
        loss.term(logits, label).backward(retain_graph=True)
        # Scale s's own loss reaches scale s's classifier output, and only it.
        grads = [o.grad.abs().sum().item() if o.grad is not None else 0.0 for o in outputs]
        assert grads[s] > 0 and all(g == 0 for i, g in enumerate(grads) if i != s), (s, grads)
    # The whole loss (aggregate + every scale) reaches the shared classifier and the scoring module.
    model.zero_grad()
    loss(out, {"label": label})["loss"].backward()
    assert model.head.classifier.weight.grad.abs().sum() > 0
    assert model.aggregation.hidden.weight.grad.abs().sum() > 0


def test_without_deep_supervision_only_the_aggregate_is_supervised():
    model = _model(deep_supervision=False)
    assert _forward(model, torch.randn(1, 3, 32, 32)).aux_logits == []


def test_joint_loss_on_every_output_uses_each_outputs_own_structure():
    """Eq. 4 on every scale: with ``per_output`` each output's cross-entropy is weighted by the
    joint loss of its own prediction; a scale predicting the truth exactly contributes nothing."""
    label = torch.zeros(2, 16, 16, dtype=torch.long)
    label[:, 2:6, 4:12] = 2  # hair (head)
    label[:, 6:12, 3:13] = 5  # upper clothes
    label[:, 12:16, 4:12] = 9  # pants
    exact = F.one_hot(label, 20).permute(0, 3, 1, 2).float() * 4.0
    wrong = torch.roll(exact, shifts=5, dims=2)

    output = ModelOutput(logits=wrong.clone().requires_grad_(), aux_logits=[exact.clone().requires_grad_(), wrong.clone()])
    per_output = StructureSensitiveLoss(LIP, per_output=True)(output, {"label": label})
    shared = StructureSensitiveLoss(LIP)(output, {"label": label})
    loss = StructureSensitiveLoss(LIP)
    factor_wrong = loss.joint(wrong, label)
    ce_exact = loss.per_image(exact, label)[1]
    ce_wrong = loss.per_image(wrong, label)[1]
    assert factor_wrong.min() > 0 and loss.joint(exact, label).abs().max() == 0
    torch.testing.assert_close(per_output["aux"], (factor_wrong * ce_wrong).mean())
    torch.testing.assert_close(shared["aux"], (factor_wrong * (ce_exact + ce_wrong)).mean())
    torch.testing.assert_close(per_output["main"], shared["main"])


# ----------------------------------------------------------------------------- predict and export


@pytest.fixture
def saved_ssnan(tmp_path: Path) -> Path:
    model = SSNAN(LIP.num_classes, scales=(0.5, 0.75, 1.0), **TINY)
    with torch.no_grad():
        model.aggregation.score.weight.normal_(0.0, 0.5)
    spec = {"name": "ss_nan", "num_classes": LIP.num_classes, "scales": [0.5, 0.75, 1.0], **TINY}
    return save_model(tmp_path / "model", model, spec, LIP, (48, 48))


@pytest.mark.parametrize("flip", [False, True])
def test_predictor_returns_scale_weights_at_the_original_resolution(saved_ssnan: Path, flip: bool):
    predictor = Predictor.from_saved(load_model(saved_ssnan), scales=(1.0, 0.75), flip=flip)
    images = [np.random.default_rng(i).integers(0, 256, (70 + 9 * i, 50, 3), dtype=np.uint8) for i in range(2)]
    predictions = predictor.predict(images, scale_weights=True)
    for image, pred in zip(images, predictions):
        assert pred.scale_weights.shape == (3, *image.shape[:2]) and pred.labels.shape == image.shape[:2]
        np.testing.assert_allclose(pred.scale_weights.sum(axis=0), 1.0, atol=1e-4)
        assert pred.scale_weights.std(axis=(1, 2)).max() > 0  # a map, not a constant
    # Asking for the weights changes nothing else.
    plain = predictor.predict(images)
    assert all(np.array_equal(a.labels, b.labels) for a, b in zip(plain, predictions))
    assert plain[0].scale_weights is None


def test_flipped_weights_are_mirrored_back():
    """With flip, a pixel's weights average the plain view's and the mirrored view's at the
    mirrored position; no channel is swapped (scales have no left and right)."""
    torch.manual_seed(1)
    model = _model()
    predictor = Predictor(model, LIP_5, (48, 48), scales=(1.0,), flip=True)
    image = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    got = predictor.predict([image], scale_weights=True)[0].scale_weights
    x = normalize(torch.from_numpy(image).permute(2, 0, 1)[None], predictor.mean, predictor.std)
    with torch.no_grad():
        weights = model(x).extras["scale_weights"]
        mirrored = model(x.flip(-1)).extras["scale_weights"].flip(-1)
    expected = F.interpolate((weights + mirrored) / 2, size=(48, 48), mode="bilinear", align_corners=False)[0]
    assert (weights - mirrored).abs().amax() > 1e-3  # the views differ, so the test can tell
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)


def test_saved_network_scales_replace_the_trained_ones(tmp_path: Path):
    model = SSNAN(LIP.num_classes, **TINY)
    spec = {"name": "ss_nan", "num_classes": LIP.num_classes, **TINY}
    saved = save_model(tmp_path / "m", model, spec, LIP, (48, 48), extra={"test_time": {"network_scales": [0.75, 1.25]}})
    predictor = Predictor.from_saved(load_model(saved))
    assert predictor.model.scales == (0.75, 1.25)
    image = np.zeros((40, 30, 3), dtype=np.uint8)
    assert predictor.predict([image], scale_weights=True)[0].scale_weights.shape == (2, 40, 30)


def test_predict_writes_scale_weight_maps(saved_ssnan: Path, tmp_path: Path, capsys):
    image = np.random.default_rng(0).integers(0, 256, (60, 44, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "person.png")
    out = tmp_path / "out"
    assert main(["predict", "--model", str(saved_ssnan), str(tmp_path / "person.png"), "--out", str(out),
                 "--scale-weights"]) == 0
    panels = np.asarray(Image.open(out / "person_scale_weights.png"))
    assert panels.shape == (60, 3 * 44, 3)
    summary = json.loads((out / "person.json").read_text())
    assert summary["scale_weights"]["scales"] == [0.5, 0.75, 1.0]
    assert sum(summary["scale_weights"]["mean"]) == pytest.approx(1.0, abs=2e-3)

    # A model without weights over scales is refused up front.
    plain = save_model(tmp_path / "plain", DeepLab(LIP.num_classes, backbone="resnet18", base_width=8),
                       {"name": "deeplab", "num_classes": LIP.num_classes, "backbone": "resnet18", "base_width": 8},
                       LIP, (48, 48))
    assert main(["predict", "--model", str(plain), str(tmp_path / "person.png"), "--out", str(tmp_path / "o2"),
                 "--scale-weights"]) == 2
    assert "no per-pixel weights over input scales" in capsys.readouterr().err


def test_onnx_matches_pytorch(saved_ssnan: Path, tmp_path: Path):
    pytest.importorskip("onnxruntime")
    assert main(["export", str(saved_ssnan), "--onnx", str(tmp_path / "m.onnx"), "--verify", "--dynamic-size"]) == 0


@pytest.mark.filterwarnings("ignore::FutureWarning")  # raised inside torch.export
def test_dynamo_export_keeps_the_batch_dynamic(saved_ssnan: Path, tmp_path: Path):
    pytest.importorskip("onnxscript")
    # verify runs ONNX Runtime on a batch size other than the traced one.
    export_onnx(saved_ssnan, tmp_path / "dynamo.onnx", dynamo=True, verify=True)


# ----------------------------------------------------------------------------- learning


@pytest.mark.slow
def test_learns_on_synthetic_humans_in_two_phases(synth_root: Path, tmp_path: Path):
    out = tmp_path / "run"
    config = load_config(None, [
        "model.name=ss_nan", "model.backbone=resnet18", "model.base_width=16", "model.output_stride=8",
        "model.head=dense", "model.scales=[0.5, 0.75, 1.0]", "model.aggregation_channels=16",
        f"data.root={synth_root}", "data.input_size=[64, 64]", "data.batch_size=8", "train.optimizer=adamw",
        "train.lr=0.003", "train.weight_decay=0.0", *CPU_TRAINING, "train.max_epochs=16",
        "loss=[{type: cross_entropy, stop_epoch: 12},"
        " {type: structure_sensitive, start_epoch: 12, per_output: true, form: coordinates}]",
        f"train.out_dir={out}",
    ])
    summary = run_train(config, progress=False)
    rows = metrics_rows(out)
    losses = [float(r["train/loss_parsing"]) for r in rows if r.get("train/loss_parsing") and int(r["epoch"]) < 12]
    assert np.mean(losses[-20:]) < 0.6 * np.mean(losses[:5]), losses
    # The joint loss runs in the second phase only.
    assert {int(r["epoch"]) for r in rows if r.get("train/loss_structure_factor")} == set(range(12, 16))
    miou = [float(r["val/miou"]) for r in rows if r.get("val/miou")]
    val = open_dataset("lip", synth_root, split="val")
    baseline = 100 * majority_scores([s.label for s in val], 20).miou
    assert max(miou) > 1.25 * baseline, (miou, baseline)
    # The aggregation has learnt to prefer scales: its weights are no longer the near-equal
    # thirds it starts from.
    model = load_model(summary["model"]).model
    val_image = torch.from_numpy(np.array(val[0].image)).permute(2, 0, 1)[None]
    weights = _forward(model, normalize(val_image, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))).extras["scale_weights"]
    assert (weights.amax(dim=1) - weights.amin(dim=1)).amax() > 0.1, weights


def test_the_task_puts_the_joint_loss_on_every_output():
    spec = {"name": "ss_nan", "num_classes": LIP.num_classes, **TINY}
    task = HumanTask(spec, LIP.to_dict(), (32, 32), {}, loss=[{"type": "structure_sensitive", "per_output": True}])
    assert task.loss_terms[0].loss.per_output
    task = HumanTask(spec, LIP.to_dict(), (32, 32), {}, loss=[{"type": "structure_sensitive"}])
    assert not task.loss_terms[0].loss.per_output

