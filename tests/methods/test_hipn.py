"""HIPN: the schema's hierarchy as a tree, the grouped NIP modules, Eq. 1 and 2 for K = 1..4, the
top-down-only switch, the virtual-category supervision, HRNet at stride 4, a learning test, and
the pseudo-labels with their evidence, read back and trained on beside the labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import CPU_TRAINING, TINY_BACKBONE, metrics_rows
from humanparse.cli import main
from humanparse.config import ConfigError, load_config
from humanparse.data.readers import open_dataset
from humanparse.data.sample import collate
from humanparse.engine.data import HumanDataModule, open_pseudo_labels
from humanparse.engine.task import HumanTask
from humanparse.engine.train import complete_spec, run_train
from humanparse.inference.model_file import load_model, save_model
from humanparse.inference.predictor import Predictor
from humanparse.semi.noise import above_image_mean, inconsistent, smoothed_dirac_divergence
from humanparse.semi.pseudo_labels import write_pseudo_labels
from humanparse.evaluation import majority_scores
from humanparse.losses import HierarchyAttentionLoss, LossContext
from humanparse.losses.hierarchy import virtual_masks
from humanparse.models import HIPN, ModelOutput, build_model
from humanparse.models.hipn import NodeAttention
from humanparse.nn.self_calibrated import SelfCalibratedBlock
from humanparse.schemas import CCP, LIP, PASCAL_PERSON_PART, LabelSchema, hierarchy_tree, schema_tree_spec

SIZE = (40, 56)
TINY = {**TINY_BACKBONE, "output_stride": 8, "channels": 8}

# A hand-built body: background, head, torso, legs, feet; full body over all four, the upper
# half over head and torso, the lower over legs and feet.
BODY = LabelSchema(
    name="body", classes=("bg", "head", "torso", "legs", "feet"),
    hierarchy={"full_body": {"background": ["bg"], "person": ["head", "torso", "legs", "feet"]},
               "half_body": {"background": ["bg"], "upper": ["head", "torso"], "lower": ["legs", "feet"]}},
)


def _hipn(schema: LabelSchema = LIP, seed: int = 0, **options) -> HIPN:
    torch.manual_seed(seed)
    spec = {"name": "hipn", "num_classes": schema.num_classes, "hierarchy": schema_tree_spec(schema), **TINY, **options}
    return build_model(spec).eval()


# ------------------------------------------------------------------------------ the tree


def test_the_tree_of_a_hand_built_hierarchy():
    tree = hierarchy_tree(schema_tree_spec(BODY), BODY.num_classes)
    # person; upper, lower; then the four parts (background is no node).
    assert tree.parents == (-1, 0, 0, 1, 1, 2, 2)
    assert tree.members == ((1, 2, 3, 4), (1, 2), (3, 4), (1,), (2,), (3,), (4,))
    assert tree.depths == (0, 1, 1, 2, 2, 2, 2) and tree.leaves == (3, 4, 5, 6)
    assert tree.families() == ((-1, (0,)), (0, (1, 2)), (1, (3, 4)), (2, (5, 6)))
    label = torch.tensor([[[0, 1, 2, 3, 4, 255]]])
    masks = virtual_masks(label, torch.as_tensor(tree.mask_table()))
    assert masks[0, :, 0].tolist() == [
        [0, 1, 1, 1, 1, 255], [0, 1, 1, 0, 0, 255], [0, 0, 0, 1, 1, 255],
        [0, 1, 0, 0, 0, 255], [0, 0, 1, 0, 0, 255], [0, 0, 0, 1, 0, 255], [0, 0, 0, 0, 1, 255],
    ]


@pytest.mark.parametrize("schema", [LIP, CCP, PASCAL_PERSON_PART], ids=lambda s: s.name)
def test_every_parent_covers_its_children_in_the_shipped_hierarchies(schema):
    tree = hierarchy_tree(schema_tree_spec(schema), schema.num_classes)
    assert tree.num_nodes == 1 + 2 + schema.num_classes - 1  # full body, two halves, the parts
    for node, parent in enumerate(tree.parents):
        if parent >= 0:
            assert set(tree.members[node]) <= set(tree.members[parent])
    for parent, children in tree.families():
        covered = [c for child in children for c in tree.members[child]]
        assert sorted(covered) == sorted(set(covered))  # siblings do not overlap
        if parent >= 0:
            assert sorted(covered) == sorted(tree.members[parent])  # and cover their parent


def test_a_level_that_mixes_background_with_a_class_is_refused():
    with pytest.raises(ValueError, match="background class must be alone"):
        hierarchy_tree([[0, 0, 1, 1, 1]], 5)


def test_without_levels_the_parts_hang_from_the_root():
    tree = hierarchy_tree([], 4)
    assert tree.parents == (-1, -1, -1) and tree.families() == ((-1, (0, 1, 2)),)


# ------------------------------------------------------------------------- NIP modules


def test_a_grouped_self_calibrated_block_equals_one_block_per_group():
    torch.manual_seed(0)
    groups, channels = 3, 8
    grouped = SelfCalibratedBlock(channels, groups).train()
    singles = [SelfCalibratedBlock(channels, 1).train() for _ in range(groups)]
    for g, single in enumerate(singles):
        for (name, p), q in zip(grouped.state_dict().items(), single.state_dict().values()):
            if p.ndim:  # every tensor but the step count is stacked group by group along dim 0
                q.copy_(p.view(groups, -1, *p.shape[1:])[g])
    x = torch.randn(2, groups * channels, 9, 7)
    together = grouped(x).view(2, groups, channels, 9, 7)
    for g, single in enumerate(singles):
        torch.testing.assert_close(together[:, g], single(x[:, g * channels:(g + 1) * channels]))


def test_nip_maps_are_two_way_distributions_per_node():
    nip = NodeAttention(4, 8).eval()
    logits = nip(torch.randn(2, 32, 6, 5))
    assert logits.shape == (2, 4, 2, 6, 5)
    probs = logits.softmax(dim=2)
    torch.testing.assert_close(probs.sum(dim=2), torch.ones(2, 4, 6, 5))
    assert ((probs > 0) & (probs < 1)).all()


def test_eq1_gates_the_parent_by_the_foreground_channel():
    model = _hipn(BODY, stages=1)
    stage = model.stages[0]
    root = torch.randn(1, 8, 5, 7)
    for family in stage.nip:  # every node certain: all foreground, or all background
        family.classifier.bias.data = torch.tensor([-30.0, 30.0] * family.num_nodes)
    with torch.no_grad():
        features, _ = model._stage(stage, root, None)
    torch.testing.assert_close(features[0], 2 * root)  # h_v = h_p * 1 + h_p, down every level
    torch.testing.assert_close(features[3], 8 * root)  # person, upper body, head
    for family in stage.nip:
        family.classifier.bias.data = torch.tensor([30.0, -30.0] * family.num_nodes)
    with torch.no_grad():
        features, _ = model._stage(stage, root, None)
    torch.testing.assert_close(features[6], root)  # h_v = h_p * 0 + h_p


# --------------------------------------------------------------------- stages, Eq. 2


@pytest.mark.parametrize("stages", [1, 2, 3, 4])
def test_outputs_for_one_to_four_stages(stages):
    model = _hipn(stages=stages)
    output = model(torch.randn(2, 3, *SIZE))
    grid = (5, 7)
    tree = model.tree
    assert output.logits.shape == (2, LIP.num_classes, *grid)
    assert output.extras["node_logits"].shape == (2, stages, tree.num_nodes, 2, *grid)
    # Eq. 2's fusions: one per parent node and stage after the first; an ASPP between stages.
    internal = sum(1 for n in range(tree.num_nodes) if tree.children(n))
    assert sum(len(s.fuse) for s in model.stages) == internal * (stages - 1)
    assert sum(s.project is not None for s in model.stages) == stages - 1


def test_without_stages_it_is_the_backbone_and_its_aspp_alone():
    model = _hipn(stages=0)
    output = model(torch.randn(1, 3, *SIZE))
    assert output.logits.shape == (1, LIP.num_classes, 5, 7) and not output.extras
    assert model.classifier.in_channels == 8 and not len(model.stages)
    assert model.default_loss == [{"type": "cross_entropy"}]


def test_bottom_up_passing_reaches_parents_and_the_switch_turns_it_off():
    model = _hipn(BODY, stages=2)
    assert [len(s.fuse) for s in model.stages] == [0, 3]  # person, upper, lower
    fuse = model.stages[1].fuse["0"]
    assert fuse.in_channels == 3 * 8  # the person node's two children and its parent (the root)
    x = torch.randn(1, 3, *SIZE)
    before = model(x).logits
    with torch.no_grad():
        fuse.weight.mul_(3.0)
    assert not torch.allclose(model(x).logits, before)
    top_down = _hipn(BODY, stages=2, bidirectional=False)
    assert all(len(s.fuse) == 0 for s in top_down.stages)
    assert set(top_down.state_dict()) < set(model.state_dict())


def test_bad_options_are_explained():
    with pytest.raises(ValueError, match="stages must be 0 to 4"):
        _hipn(stages=5)
    with pytest.raises(ValueError, match="bidirectional must be true or false"):
        _hipn(bidirectional="yes")
    with pytest.raises(ValueError, match="maps 3 classes, not 20"):
        _hipn(hierarchy=[[0, 1, 1]])


def test_on_hrnet_the_parsing_is_at_stride_4():
    torch.manual_seed(0)
    model = build_model({"name": "hipn", "num_classes": BODY.num_classes, "hierarchy": schema_tree_spec(BODY),
                         "backbone": "hrnet_w18", "channels": 8, "stages": 1}).eval()
    with torch.no_grad():
        output = model(torch.randn(1, 3, 64, 48))
    assert model.output_stride == 4 and output.logits.shape == (1, BODY.num_classes, 16, 12)


# ---------------------------------------------------------------------------- the loss


def test_the_attention_loss_trains_every_nip_module_and_nothing_else_in_the_classifier():
    model = _hipn(BODY, stages=2).train()
    loss = HierarchyAttentionLoss(LossContext(BODY))
    label = torch.randint(0, BODY.num_classes, (2, *SIZE))
    value = loss(model(torch.randn(2, 3, *SIZE)), {"label": label})["loss"]
    assert 0 < value.item() < 2 * np.log(2)
    value.backward()
    for stage in model.stages:
        for family in stage.nip:
            assert family.classifier.weight.grad.abs().sum() > 0
    assert model.classifier.weight.grad is None  # the final prediction is the cross-entropy's


def test_the_attention_loss_scores_certain_right_maps_near_zero_and_wrong_ones_high():
    tree = hierarchy_tree(schema_tree_spec(BODY), BODY.num_classes)
    label = torch.tensor([[[0, 1, 2], [3, 4, 255]]])
    sign = 2 * virtual_masks(label, torch.as_tensor(tree.mask_table())).float() - 1  # (1, N, 2, 3)
    right = torch.stack([-20 * sign, 20 * sign], dim=2)[:, None]  # (1, 1, N, 2, 2, 3): one stage
    loss = HierarchyAttentionLoss(LossContext(BODY))
    assert loss(ModelOutput(extras={"node_logits": right}), {"label": label})["loss"] < 1e-6
    assert loss(ModelOutput(extras={"node_logits": -right}), {"label": label})["loss"] > 10


def test_the_attention_loss_refuses_a_model_of_another_hierarchy():
    model = _hipn(LIP, stages=1)
    loss = HierarchyAttentionLoss(LossContext(BODY))
    with pytest.raises(ValueError, match="22 hierarchy nodes and the label schema's hierarchy 7"):
        loss(model(torch.randn(1, 3, *SIZE)), {"label": torch.zeros(1, *SIZE, dtype=torch.long)})


def test_a_config_takes_the_hierarchy_from_the_data_and_trains_both_terms_by_default():
    spec = complete_spec({"name": "hipn", **TINY}, BODY, None)
    assert spec["num_classes"] == 5 and spec["hierarchy"] == schema_tree_spec(BODY)
    task = HumanTask(spec, BODY.to_dict(), input_size=SIZE, train={})
    assert [t.type for t in task.loss_terms] == ["cross_entropy", "hierarchy_attention"]


# ---------------------------------------------------------------------------- learning


@pytest.mark.slow
def test_learns_on_synthetic_humans(synth_root: Path, tmp_path: Path):
    out = tmp_path / "run"
    config = load_config(None, [
        "model.name=hipn", "model.backbone=resnet18", "model.base_width=16", "model.output_stride=8",
        "model.channels=16", "model.stages=2", f"data.root={synth_root}", "data.input_size=[64, 64]",
        "data.batch_size=8", "train.optimizer=adamw", "train.lr=0.002", "train.weight_decay=0.0", *CPU_TRAINING,
        "train.max_epochs=28", f"train.out_dir={out}",  # DeepLab's learning test's budget
    ])
    run_train(config, progress=False)
    rows = metrics_rows(out)
    parsing = [float(r["train/loss_parsing"]) for r in rows if r.get("train/loss_parsing")]
    attention = [float(r["train/loss_hierarchy"]) for r in rows if r.get("train/loss_hierarchy")]
    assert np.mean(parsing[-20:]) < 0.6 * np.mean(parsing[:5]), parsing
    assert np.mean(attention[-20:]) < 0.6 * np.mean(attention[:5]), attention
    miou = [float(r["val/miou"]) for r in rows if r.get("val/miou")]
    val = open_dataset("lip", synth_root, split="val")
    baseline = 100 * majority_scores([s.label for s in val], 20).miou
    assert max(miou) > 1.25 * baseline, (miou, baseline)


# ------------------------------------------------- pseudo-labels and hybrid retraining


@pytest.fixture(scope="module")
def saved_hipn(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    spec = {"name": "hipn", "num_classes": LIP.num_classes, "hierarchy": schema_tree_spec(LIP), **TINY, "stages": 2}
    return save_model(tmp_path_factory.mktemp("hipn") / "model", build_model(spec).eval(), spec, LIP, (48, 48))


def test_pseudo_labels_round_trip_with_their_evidence(saved_hipn: Path, small_synth_root: Path, tmp_path: Path):
    images = sorted((small_synth_root / "val_images").glob("*.jpg"))[:3]
    out = tmp_path / "pseudo"
    assert main(["pseudo-label", "--model", str(saved_hipn), *map(str, images), "--out", str(out)]) == 0
    record = json.loads((out / "pseudo.json").read_text())
    assert record["images"] == 3 and record["levels"]["from"] == "the model's NIP maps"
    predictor = Predictor.from_saved(load_model(saved_hipn))
    reader = open_dataset("pseudo", out, noise="certainty_consistency")
    assert len(reader) == 3 and reader.schema.name == LIP.name
    for i, path in enumerate(images):
        image = np.array(Image.open(path).convert("RGB"))
        expected = predictor.predict([image], probabilities=True, level_scores=True)[0]
        sample = reader[i]
        assert sample.id == path.stem and sample.meta["source"] == "pseudo"
        assert np.array_equal(sample.label, expected.labels)
        with np.load(out / "evidence" / f"{path.stem}.npz") as evidence:
            certainty = smoothed_dirac_divergence(torch.from_numpy(expected.probabilities)).numpy()
            np.testing.assert_allclose(evidence["certainty"], certainty, rtol=2e-3, atol=2e-3)
            assert [evidence[f"level_{lv.name}"].tolist() for lv in LIP.hierarchy] == [l.tolist() for l in expected.levels]
        # The noisy mask is the rule applied to that evidence: above the image's mean, or inconsistent.
        parents = [lv.parent_of.tolist() for lv in LIP.hierarchy]
        rule = above_image_mean(certainty) | inconsistent(expected.labels, expected.levels, parents)
        assert sample.map_specs["noisy"].kind == "mask"
        assert np.mean(sample.maps["noisy"].astype(bool) == rule) > 0.99  # float16 storage may flip a tie
    assert main(["pseudo-label", "--model", str(saved_hipn), str(images[0]), "--out", str(out)]) == 2  # not over it


def test_retraining_mixes_labelled_and_pseudo_labelled_samples(saved_hipn: Path, small_synth_root: Path, tmp_path: Path):
    out = tmp_path / "pseudo"
    images = sorted((small_synth_root / "val_images").glob("*.jpg"))[:4]
    write_pseudo_labels(saved_hipn, images, out, progress=False)
    run = tmp_path / "run"
    config = load_config(None, [
        "model.name=hipn", "model.backbone=resnet18", "model.base_width=8", "model.output_stride=8",
        "model.channels=8", "model.stages=2", f"data.root={small_synth_root}", "data.input_size=[48, 48]",
        "data.batch_size=8", f"data.pseudo_root={out}", "data.pseudo_noise=certainty", *CPU_TRAINING,
        "train.max_epochs=1", "train.optimizer=adamw", "train.lr=0.001", f"train.out_dir={run}",
        "loss=[{type: cross_entropy, source: labelled}, {type: hierarchy_attention, source: labelled},"
        " {type: noise_tolerant, source: pseudo}]",
    ])
    module = HumanDataModule(config["data"])
    module.setup()
    assert len(module.train_set) == 18 + 4  # the 18 labelled training people and 4 pseudo-labelled
    batch = collate([module.train_set[(0, i)] for i in (0, 18, 19)])
    assert [m.get("source", "labelled") for m in batch["meta"]] == ["labelled", "pseudo", "pseudo"]
    assert batch["maps"]["noisy"][0].sum() == 0 and batch["maps"]["noisy"][1:].sum() > 0
    run_train(config, progress=False)
    rows = metrics_rows(run)
    assert any(r.get("train/loss_hybrid") for r in rows) and any(r.get("train/loss_parsing") for r in rows)


def test_pseudo_labels_of_another_schema_are_refused(saved_hipn: Path, small_synth_root: Path, tmp_path: Path):
    out = tmp_path / "pseudo"
    write_pseudo_labels(saved_hipn, sorted((small_synth_root / "val_images").glob("*.jpg"))[:1], out, progress=False)
    data = load_config(None, ["data.format=ccp", f"data.root={small_synth_root}", f"data.pseudo_root={out}"])["data"]
    with pytest.raises(ConfigError, match="pseudo-labels are in schema 'lip', the labelled data in 'ccp'"):
        open_pseudo_labels(data, CCP)
