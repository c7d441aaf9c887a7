"""WSHP's prior generation: pose normalisation, retrieval, bone assignment, similarity transforms,
and the batched morphing against the per-bone loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from humanparse.data.sample import MISSING, VISIBLE
from humanparse.schemas import LIP_JOINTS
from humanparse.transfer.morph import (
    BONES, NO_BONE, ExemplarBank, assign_bones, bone_ends, morph_loop, morph_priors, similarity_from, splat_priors,
)
from humanparse.transfer.pose import choose_neighbours, nearest_exemplars, normalize_poses, pose_distances

J = {name: i for i, name in enumerate(LIP_JOINTS.joints)}
STANDING = {  # x, y of a person standing upright in a 40 x 64 image
    "head_top": (20, 4), "upper_neck": (20, 12), "thorax": (20, 15), "pelvis": (20, 34),
    "l_shoulder": (27, 15), "r_shoulder": (13, 15), "l_elbow": (29, 25), "r_elbow": (11, 25),
    "l_wrist": (30, 34), "r_wrist": (10, 34), "l_hip": (24, 34), "r_hip": (16, 34),
    "l_knee": (25, 47), "r_knee": (15, 47), "l_ankle": (25, 60), "r_ankle": (15, 60),
}


def pose(points: dict[str, tuple[float, float]] = STANDING, missing: tuple[str, ...] = ()) -> np.ndarray:
    kp = np.zeros((LIP_JOINTS.num_joints, 3), dtype=np.float32)
    for name, (x, y) in points.items():
        kp[J[name]] = (x, y, VISIBLE)
    for name in missing:
        kp[J[name]] = (np.nan, np.nan, MISSING)
    return kp


def moved(kp: np.ndarray, scale: float = 1.0, shift=(0.0, 0.0), angle: float = 0.0) -> np.ndarray:
    out = kp.copy()
    c, s = np.cos(angle), np.sin(angle)
    xy = out[:, :2] @ np.array([[c, s], [-s, c]], dtype=np.float32) * scale + np.asarray(shift, dtype=np.float32)
    out[:, :2] = xy
    return out


def test_normalisation_is_invariant_to_translation_and_scale_but_not_rotation():
    base = normalize_poses(pose()[None], LIP_JOINTS)[0]
    other = normalize_poses(moved(pose(), scale=2.5, shift=(40, -7))[None], LIP_JOINTS)[0]
    np.testing.assert_allclose(other, base, atol=1e-5)
    hip = (base[J["l_hip"]] + base[J["r_hip"]]) / 2
    np.testing.assert_allclose(hip, 0, atol=1e-6)
    assert np.linalg.norm(base[J["upper_neck"]] - hip) == pytest.approx(1.0)
    turned = normalize_poses(moved(pose(), angle=0.6)[None], LIP_JOINTS)[0]
    assert np.abs(turned - base).max() > 0.3


def test_missing_joints_are_tolerated_and_a_pose_without_torso_matches_nothing():
    partial = normalize_poses(pose(missing=("l_wrist", "l_elbow"))[None], LIP_JOINTS)[0]
    assert np.isnan(partial[J["l_wrist"]]).all() and np.isfinite(partial[J["r_wrist"]]).all()
    # Without hips and pelvis there is no hip centre: no distance to anyone.
    headless = normalize_poses(pose(missing=("l_hip", "r_hip", "pelvis"))[None], LIP_JOINTS)
    assert np.isnan(headless).all()
    d = pose_distances(headless, normalize_poses(pose()[None], LIP_JOINTS))
    assert torch.isinf(d).all()
    # Over common joints, scaled: the same pose with two joints missing is still at distance 0.
    full = normalize_poses(pose()[None], LIP_JOINTS)
    assert pose_distances(partial[None], full).item() == pytest.approx(0.0, abs=1e-5)


def test_batched_distances_equal_the_direct_formula():
    rng = np.random.default_rng(0)
    poses = np.stack([moved(pose(), angle=a) for a in rng.uniform(-0.5, 0.5, 6)])
    poses[2, J["l_ankle"]] = (np.nan, np.nan, MISSING)
    norm = normalize_poses(poses, LIP_JOINTS)
    d = pose_distances(norm, norm)
    for i in range(6):
        for j in range(6):
            common = np.isfinite(norm[i]).all(1) & np.isfinite(norm[j]).all(1)
            direct = np.sqrt(((norm[i][common] - norm[j][common]) ** 2).sum() * 16 / common.sum())
            assert d[i, j].item() == pytest.approx(direct, abs=1e-4)


def test_retrieval_never_returns_the_query_and_picks_the_closest():
    angles = [0.0, 0.05, 0.4, 0.1, -0.6]
    norm = normalize_poses(np.stack([moved(pose(), angle=a) for a in angles]), LIP_JOINTS)
    neighbours = nearest_exemplars(norm, norm, 2, exclude=range(5))
    for q, row in enumerate(neighbours.tolist()):
        assert q not in row
    assert neighbours[0].tolist() == [1, 3]  # the poses turned least away from the upright one
    pool = nearest_exemplars(norm, norm, 4, exclude=range(5))
    chosen = choose_neighbours(pool, 3, torch.Generator().manual_seed(0))
    assert all(set(c) <= set(p) and len(set(c)) == 3 for c, p in zip(chosen.tolist(), pool.tolist()))
    with pytest.raises(ValueError, match="5 neighbours asked of 5 exemplars"):
        nearest_exemplars(norm, norm, 5, exclude=range(5))


def test_a_similarity_transform_maps_bone_ends_exactly():
    rng = np.random.default_rng(1)
    source, target = rng.uniform(0, 50, (7, 2, 2)), rng.uniform(0, 50, (7, 2, 2))
    t = similarity_from(source, target)
    mapped = (t[:, None, :, :2] @ torch.as_tensor(source)[..., None])[..., 0] + t[:, None, :, 2]
    torch.testing.assert_close(mapped, torch.as_tensor(target), atol=1e-9, rtol=0)
    a = t[:, :, :2]  # a similarity: orthogonal up to scale
    torch.testing.assert_close(a @ a.transpose(1, 2), (a[:, 0, 0] ** 2 + a[:, 1, 0] ** 2)[:, None, None] * torch.eye(2, dtype=a.dtype))


def test_labelled_pixels_go_to_their_nearest_bone():
    label = np.zeros((64, 40), dtype=np.uint8)
    label[5:11, 17:23] = 1   # on the head bone
    label[50:58, 24:27] = 2  # on the left lower leg
    label[0, 0] = 255
    bones = assign_bones(label, bone_ends(pose()[None], LIP_JOINTS)[0])
    names = [name for name, _, _ in BONES]
    assert set(np.unique(bones[label == 1])) == {names.index("head")}
    assert set(np.unique(bones[label == 2])) == {names.index("l_lower_leg")}
    assert (bones[(label == 0) | (label == 255)] == NO_BONE).all()


def _bank_and_targets():
    rng = np.random.default_rng(2)
    labels, poses = [], []
    for i in range(6):
        kp = moved(pose(), scale=rng.uniform(0.9, 1.1), shift=rng.uniform(-2, 2, 2), angle=rng.uniform(-0.15, 0.15))
        label = np.zeros((64, 40), dtype=np.uint8)
        for (name, a, b), cls in zip(BONES, (1, 2, 3, 3, 3, 3, 4, 4, 4, 4)):
            ends = bone_ends(kp[None], LIP_JOINTS)[0][[n for n, _, _ in BONES].index(name)]
            for t in np.linspace(0, 1, 20):  # paint each bone as a thick stroke of its class
                x, y = ends[0] + t * (ends[1] - ends[0])
                label[max(0, int(y) - 2): int(y) + 3, max(0, int(x) - 2): int(x) + 3] = cls
        labels.append(label)
        poses.append(kp)
    poses = np.stack(poses)
    return ExemplarBank.build(labels, poses, LIP_JOINTS, num_classes=5), poses, labels


def test_priors_lie_in_0_1_and_equal_one_morphed_mask_when_k_is_1():
    bank, poses, labels = _bank_and_targets()
    targets = bone_ends(poses[:2], LIP_JOINTS)
    neighbours = torch.tensor([[3], [4]])
    prior = morph_priors(bank, neighbours, targets, (64, 40))
    assert prior.shape == (2, 5, 64, 40) and prior.min() >= 0 and prior.max() <= 1
    assert set(torch.unique(prior[:, 1:]).tolist()) <= {0.0, 1.0}  # one neighbour: a 0/1 mask
    three = morph_priors(bank, torch.tensor([[3, 4, 5]]), targets[:1], (64, 40))
    assert set(torch.unique(three[:, 1:] * 3).round().tolist()) <= {0.0, 1.0, 2.0, 3.0}
    # The morphed strokes land on the target's own: mostly where the target's label has them.
    hit = (prior[0, 1:].argmax(0) + 1)[prior[0, 1:].amax(0) > 0].numpy()
    assert np.mean(hit == labels[0][(prior[0, 1:].amax(0) > 0).numpy()]) > 0.8


def test_the_batched_warps_equal_the_per_bone_loop():
    bank, poses, _ = _bank_and_targets()
    targets = bone_ends(poses[:3], LIP_JOINTS)
    targets[1, 3] = np.nan  # a bone missing in the target brings nothing
    neighbours = torch.tensor([[1, 2], [0, 5], [4, 1]])
    loop = morph_loop(bank, neighbours, targets, (64, 40))
    torch.testing.assert_close(morph_priors(bank, neighbours, targets, (64, 40), candidates=len(BONES)), loop)
    nearest = morph_priors(bank, neighbours, targets, (64, 40), chunk=2)  # three candidate bones, in chunks
    assert (nearest != loop).float().mean() < 0.01
    # Forward mapping: the same prior but where a carried point rounds across a pixel edge.
    splatted = splat_priors(bank, neighbours, targets, (64, 40), chunk=2)
    assert splatted.shape == loop.shape and (splatted != loop).float().mean() < 0.05  # thin strokes: many edges
    assert set(torch.unique(splat_priors(bank, neighbours[:, :1], targets, (64, 40))[:, 1:]).tolist()) <= {0.0, 1.0}


def test_priors_of_real_photos_from_their_pose_neighbours(shared_data):
    from humanparse.data.readers import open_dataset
    from humanparse.schemas import CCP
    from humanparse.transfer.priors import PriorMaker, prior_counts, working_shape

    ccp = shared_data / "ccp"
    reader = open_dataset("ccp", ccp, keypoints=ccp / "keypoints" / "labeled_lip16.csv")
    exemplars = [reader[i] for i in range(60)]
    maker = PriorMaker([s.label for s in exemplars], np.stack([s.keypoints[0] for s in exemplars]), LIP_JOINTS,
                       CCP.num_classes)
    targets = [reader[i] for i in range(700, 704)]
    keypoints = np.stack([s.keypoints[0] for s in targets])
    priors = maker.priors(keypoints, [s.label.shape for s in targets], k=3)
    truth_person = []
    for s, prior in zip(targets, priors):
        assert prior.shape == (CCP.num_classes, *working_shape(*s.label.shape)) and max(prior.shape[1:]) == 256
        assert prior.min() >= 0 and prior.max() <= 1
        np.testing.assert_allclose(prior_counts(prior, 3) / 3, prior, atol=1e-6)  # stored losslessly
        from PIL import Image

        truth = np.asarray(Image.fromarray(s.label).resize(prior.shape[1:][::-1], Image.NEAREST)) > 0
        guess = prior[0] < 1  # some neighbour brings a class here
        truth_person.append((guess & truth).sum() / truth.sum())
    # The neighbours, morphed onto the people's own bones, cover most of each person (a teacher's joints).
    assert np.mean(truth_person) > 0.6, truth_person
    # A labelled person is never its own neighbour; training priors draw k of the n nearest.
    own = np.stack([s.keypoints[0] for s in exemplars[:5]])
    assert not (maker.neighbours(own, 5, exclude=range(5)) == torch.arange(5)[:, None]).any()
    drawn = maker.priors(own, [s.label.shape for s in exemplars[:5]], k=3, n=5, exclude=range(5),
                         generator=torch.Generator().manual_seed(0))
    assert len(drawn) == 5
    with pytest.raises(ValueError, match="not a prior of 2 neighbours"):
        prior_counts(priors[0], 2)


def test_a_person_without_a_torso_gets_an_empty_prior_with_a_warning_not_an_error():
    from humanparse.data.sample import Sample
    from humanparse.transfer.priors import PRIOR, AddPrior, PriorMaker

    _, poses, labels = _bank_and_targets()
    maker = PriorMaker(labels, poses, LIP_JOINTS, num_classes=5)
    torsoless = pose(missing=("l_hip", "r_hip", "pelvis"))
    assert maker.retrievable(np.stack([pose(), torsoless])).tolist() == [True, False]
    step = AddPrior(maker, k=3, n=5)
    image = np.zeros((64, 40, 3), np.uint8)
    good = step(Sample(image=image, meta={"id": "a"}, label=labels[0], keypoints=pose()[None]), np.random.default_rng(0))
    assert good.maps[PRIOR].shape == (5, 64, 40) and good.maps[PRIOR].max() > 0
    with pytest.warns(UserWarning, match="'b'.*no torso"):
        empty = step(Sample(image=image, meta={"id": "b"}, label=labels[0], keypoints=torsoless[None]), np.random.default_rng(0))
    assert empty.maps[PRIOR].shape == (5, 64, 40) and not empty.maps[PRIOR].any()
