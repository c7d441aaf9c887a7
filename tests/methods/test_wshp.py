"""WSHP's refinement network: the pix2pix U-Net's shapes (256 in, the paper's eight levels), the
prior as a named extra input, and the L1 loss on the label's masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from humanparse.losses import LOSSES, MaskL1Loss
from humanparse.models import ModelOutput, build_model, extra_inputs_of
from humanparse.nn.unet import UNet
from humanparse.schemas import CCP


def test_the_paper_unet_goes_down_to_1x1_at_256_and_back():
    unet = UNet(3 + 7, 7).eval()
    seen = []
    hooks = [layer.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[-3:]))) for layer in unet.down]
    with torch.no_grad():
        out = unet(torch.randn(1, 10, 256, 256))
    for h in hooks:
        h.remove()
    assert out.shape == (1, 7, 256, 256)
    assert seen == [(64, 128, 128), (128, 64, 64), (256, 32, 32), (512, 16, 16), (512, 8, 8), (512, 4, 4),
                    (512, 2, 2), (512, 1, 1)]
    dropouts = [m for m in unet.up.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == 3 and all(d.p == 0.5 for d in dropouts)


def test_any_size_is_padded_and_cropped_back():
    unet = UNet(4, 2, depth=4, base_width=8).eval()
    with torch.no_grad():
        assert unet(torch.randn(2, 4, 37, 50)).shape == (2, 2, 37, 50)


def test_the_refiner_takes_the_prior_by_name_and_checks_it():
    model = build_model({"name": "wshp_refiner", "num_classes": CCP.num_classes, "depth": 4, "base_width": 8}).eval()
    assert extra_inputs_of(model)["prior"].channels == CCP.num_classes and model.default_loss == [{"type": "mask_l1"}]
    x, prior = torch.randn(1, 3, 48, 32), torch.rand(1, CCP.num_classes, 48, 32)
    with torch.no_grad():
        out = model(x, prior=prior).logits
        assert out.shape == (1, CCP.num_classes, 48, 32)
        assert not torch.allclose(model(x, prior=torch.zeros_like(prior)).logits, out)  # the prior is read
    with pytest.raises(ValueError, match="the prior must be"):
        model(x, prior=prior[:, :5])


def test_a_residual_refiner_starts_from_the_prior_and_learns_its_correction():
    spec = {"name": "wshp_refiner", "num_classes": 5, "depth": 3, "base_width": 4, "prior_residual": True}
    model = build_model(spec).eval()
    last = [m for m in model.unet.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))][-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    prior = torch.rand(2, 5, 16, 16)
    with torch.no_grad():
        maps = torch.sigmoid(model(torch.randn(2, 3, 16, 16), prior=prior).logits)
    assert torch.allclose(maps, prior.clamp(0.02, 0.98), atol=1e-5)  # a zero correction gives the prior back
    with pytest.raises(ValueError, match="needs prior: parts"):
        build_model({**spec, "prior": "skeleton"})


def test_the_l1_loss_is_zero_for_the_masks_and_mean_absolute_otherwise():
    assert LOSSES["mask_l1"] is MaskL1Loss
    label = torch.tensor([[[0, 1], [2, 255]]])
    masks = torch.nn.functional.one_hot(label.clamp(max=2), 3).movedim(-1, 1).float()
    perfect = ModelOutput(logits=(masks * 2 - 1) * 50)
    assert MaskL1Loss()(perfect, {"label": label})["loss"] < 1e-6
    half = ModelOutput(logits=torch.zeros(1, 3, 2, 2))  # sigmoid 0.5 everywhere: |0.5 - m| = 0.5
    assert MaskL1Loss()(half, {"label": label})["loss"].item() == pytest.approx(0.5)


def refiner_overrides(ccp: Path, out: Path) -> list[str]:
    return [
        "model={name: wshp_refiner, depth: 4, base_width: 8}", "data.format=ccp", f"data.root={ccp}",
        f"data.keypoints={ccp / 'keypoints' / 'labeled_lip16.csv'}", "data.train_split=null", "data.val_split=null",
        "data.train_ids=0001-0012", "data.val_ids=0701-0704", "data.input_size=[64, 48]", "data.batch_size=4",
        "data.num_workers=0", "data.priors={k: 3, n: 5}", "train.max_epochs=2", "train.optimizer=adamw",
        "train.adam_beta1=0.5", "train.weight_decay=0", "train.lr=0.0002", "train.accelerator=cpu", "train.devices=1",
        "train.log_every_n_steps=1", f"train.out_dir={out}",
    ]


@pytest.fixture(scope="module")
def trained_refiner(shared_data, tmp_path_factory) -> tuple[Path, Path]:
    from humanparse.config import load_config
    from humanparse.engine.train import run_train

    run = tmp_path_factory.mktemp("refiner") / "run"
    summary = run_train(load_config(None, refiner_overrides(shared_data / "ccp", run)), progress=False)
    return run, Path(summary["model"])


def test_the_refiner_trains_on_ccp_with_priors_from_pose_neighbours(shared_data, trained_refiner, tmp_path):
    from helpers import metrics_rows
    from humanparse.config import load_config
    from humanparse.engine.data import HumanDataModule

    module = HumanDataModule(load_config(None, refiner_overrides(shared_data / "ccp", tmp_path))["data"])
    module.setup()
    sample = module.train_set[(0, 0)]
    prior = sample.maps["prior"]
    assert prior.shape == (CCP.num_classes, 64, 48) and prior.min() >= 0 and prior.max() <= 1 + 1e-6
    # Random k of n: another epoch draws other neighbours for the same person.
    assert any(not np.array_equal(module.train_set[(e, 0)].maps["prior"], prior) for e in range(1, 6))
    # Validation priors are the k nearest: the same every time.
    assert np.array_equal(module.val_set[0].maps["prior"], module.val_set[0].maps["prior"])
    run, model = trained_refiner
    losses = [float(r["train/loss_mask_l1"]) for r in metrics_rows(run) if r.get("train/loss_mask_l1")]
    assert len(losses) == 6 and all(0 < v < 1 for v in losses)
    assert (model / "model.json").is_file()


def test_labels_are_synthesised_for_keypoint_only_photos_from_the_command_line(shared_data, trained_refiner, tmp_path):
    from PIL import Image

    from humanparse.cli import main
    from humanparse.data.readers import open_dataset

    ccp = shared_data / "ccp"
    config = tmp_path / "exemplars.yaml"
    config.write_text(f"data: {{format: ccp, root: {ccp}, keypoints: {ccp / 'keypoints' / 'labeled_lip16.csv'}, "
                      "train_split: null, train_ids: 0001-0012}\n")
    out = tmp_path / "synth"
    _, refiner = trained_refiner
    assert main(["transfer", "synthesize", "--refiner", str(refiner), "--config", str(config),
                 "--keypoints", str(ccp / "keypoints" / "labeled_lip16.csv"), "--ids", "0701-0703",
                 "--out", str(out)]) == 0
    reader = open_dataset("pseudo", out, noise="none")
    assert [reader.sample_id(i) for i in range(len(reader))] == ["0701", "0702", "0703"]
    for i in range(3):
        sample = reader[i]
        image = np.asarray(Image.open(ccp / "images" / f"{sample.id}.jpg"))
        assert sample.label.shape == image.shape[:2] and sample.label.max() < CCP.num_classes
    # Without joints (CCP brings none of its own) every image is background, and the record says so.
    assert main(["transfer", "synthesize", "--refiner", str(refiner), "--config", str(config), "--ids", "0701-0701",
                 "--out", str(tmp_path / "x")]) == 0
    assert json.loads((tmp_path / "x" / "pseudo.json").read_text())["without_joints"] == ["0701"]


def test_the_skeleton_map_prior_draws_one_channel_per_bone_kind_left_and_right_merged():
    from humanparse.schemas import LIP_JOINTS
    from humanparse.transfer.priors import SKELETON_CHANNELS, skeleton_map

    kp = np.zeros((16, 3), dtype=np.float32)
    names = {n: i for i, n in enumerate(LIP_JOINTS.joints)}
    for name, xy in {"upper_neck": (50, 20), "head_top": (50, 5), "l_hip": (60, 60), "r_hip": (40, 60),
                     "l_shoulder": (65, 25), "l_elbow": (75, 40), "r_shoulder": (35, 25), "r_elbow": (25, 40)}.items():
        kp[names[name]] = (*xy, 2)
    sticks = skeleton_map(kp, (100, 100), LIP_JOINTS, side=100)
    assert sticks.shape == (len(SKELETON_CHANNELS), 100, 100) and set(np.unique(sticks)) <= {0.0, 1.0}
    upper_arm = sticks[SKELETON_CHANNELS.index("upper_arm")]
    assert upper_arm[32, 70] == 1 and upper_arm[32, 30] == 1  # both arms in one channel
    assert sticks[SKELETON_CHANNELS.index("lower_leg")].sum() == 0  # no knees, no lower legs
    assert sticks[SKELETON_CHANNELS.index("head"), 12, 50] == 1
    # A stick is STICK_WIDTH pixels across at the working resolution.
    assert 5 <= sticks[SKELETON_CHANNELS.index("head"), 12].sum() <= 9
    refiner = build_model({"name": "wshp_refiner", "num_classes": 5, "depth": 3, "base_width": 4, "prior": "skeleton"})
    spec = extra_inputs_of(refiner)["prior"]
    assert spec.channels == 6 and not spec.class_indexed


def test_the_data_module_gives_skeleton_priors_without_exemplars(shared_data, tmp_path):
    from humanparse.config import load_config
    from humanparse.engine.data import HumanDataModule

    overrides = [o if not o.startswith("data.priors=") else "data.priors={kind: skeleton}"
                 for o in refiner_overrides(shared_data / "ccp", tmp_path)]
    module = HumanDataModule(load_config(None, overrides)["data"])
    module.setup()
    prior = module.train_set[(0, 0)].maps["prior"]
    assert prior.shape == (6, 64, 48) and prior.max() > 0
