"""HIPN's noise identification: the certainty divergence uses the whole distribution, the
threshold is each image's own mean, the cross-level consistency rule, and the combined rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from humanparse.schemas import LabelSchema, schema_tree_spec
from humanparse.semi import labelled_subset
from humanparse.semi.noise import (
    above_image_mean, identification_counts, inconsistent, noisy_mask, smoothed_dirac_divergence,
)


def test_equal_highest_probabilities_with_different_spreads_score_differently():
    # Fig. 4 of the paper: both have p_max = 0.5; the second spreads the rest evenly.
    peaked = torch.tensor([0.5, 0.5, 0.0, 0.0])
    spread = torch.tensor([0.5, 1 / 6, 1 / 6, 1 / 6])
    d_peaked, d_spread = smoothed_dirac_divergence(torch.stack([peaked, spread], 1), dim=0)
    assert d_peaked != pytest.approx(d_spread.item(), rel=1e-3)
    # -log p_max, the literal KL(δ ‖ p), cannot tell them apart.
    assert -math.log(peaked.max()) == -math.log(spread.max())


def test_the_divergence_matches_its_formula_and_grows_with_uncertainty():
    eps, c = 1e-6, 4
    p = torch.tensor([0.7, 0.1, 0.1, 0.1])
    expected = sum(x * math.log(x) for x in p.tolist()) - 0.7 * math.log(1 - (c - 1) * eps) - 0.3 * math.log(eps)
    assert smoothed_dirac_divergence(p[:, None], epsilon=eps).item() == pytest.approx(expected, rel=1e-5)
    sure, unsure = torch.tensor([0.97, 0.01, 0.01, 0.01]), torch.tensor([0.4, 0.3, 0.2, 0.1])
    d = smoothed_dirac_divergence(torch.stack([sure, unsure], 1))
    assert d[0] < d[1] and d[0] >= 0
    with pytest.raises(ValueError, match="epsilon must be in"):
        smoothed_dirac_divergence(p[:, None], epsilon=0.5)


def test_the_threshold_is_each_images_own_mean():
    low = np.array([[0.1, 0.2], [0.3, 0.6]])  # mean 0.3
    assert above_image_mean(low).tolist() == [[False, False], [False, True]]
    # The same values in a more certain image are noisy relative to it: no global threshold.
    assert above_image_mean(low * 10 + 5).tolist() == [[False, False], [False, True]]
    assert above_image_mean(np.array([[0.01, 0.02], [0.04, 0.05]])).tolist() == [[False, False], [True, True]]


BODY = LabelSchema(
    name="body", classes=("bg", "head", "torso", "legs", "feet"),
    hierarchy={"full_body": {"background": ["bg"], "person": ["head", "torso", "legs", "feet"]},
               "half_body": {"background": ["bg"], "upper": ["head", "torso"], "lower": ["legs", "feet"]}},
)


def test_the_consistency_rule_on_a_hand_built_hierarchy():
    parents = schema_tree_spec(BODY)  # full body: bg 0 / person 1; halves: bg 0 / upper 1 / lower 2
    label = np.array([[1, 1, 3, 0, 0, 2]])  # head, head, legs, bg, bg, torso
    full = np.array([[1, 1, 1, 0, 1, 1]])
    half = np.array([[1, 2, 2, 0, 0, 1]])
    assert inconsistent(label, [full, half], parents).tolist() == [[
        False,  # a head inside the upper body of a person
        True,   # a head where the halves say lower body
        False,  # legs in the lower body
        False,  # background everywhere
        True,   # background where the full body says person
        False,
    ]]
    with pytest.raises(ValueError, match="1 level predictions for a hierarchy of 2 levels"):
        inconsistent(label, [full], parents)


def test_noise_rules_combine_the_criteria():
    certainty = np.array([[0.0, 0.0, 1.0, 1.0]])
    inconsistency = np.array([[False, True, False, True]])
    p_max = np.array([[0.9, 0.4, 0.6, 0.5]])
    both = noisy_mask("certainty_consistency", certainty, p_max, inconsistency)
    assert both.tolist() == [[False, True, True, True]]
    assert noisy_mask("certainty", certainty=certainty).tolist() == [[False, False, True, True]]
    assert noisy_mask("consistency", inconsistency=inconsistency).tolist() == inconsistency.tolist()
    assert noisy_mask("max_probability", max_probability=p_max, gamma=0.5).tolist() == [[False, True, False, True]]
    assert not noisy_mask("none", certainty=certainty).any()
    with pytest.raises(ValueError, match="needs the pseudo-labels' inconsistency"):
        noisy_mask("consistency", certainty=certainty)
    with pytest.raises(ValueError, match="unknown noise rule 'loud'"):
        noisy_mask("loud", certainty=certainty)


def test_identification_accuracy_counts_right_calls_on_labelled_pixels():
    truth = np.array([[1, 1, 2, 2, 255]])
    pseudo = np.array([[1, 2, 2, 1, 3]])  # right, wrong, right, wrong, (ignored)
    noisy = np.array([[False, True, True, False, True]])
    # right: clean & right (1st), noisy & wrong (2nd); wrong calls: noisy & right, clean & wrong.
    assert identification_counts(noisy, pseudo, truth) == (2, 4)


def test_labelled_subsets_are_fixed_by_their_seed():
    ids = [f"{i:04d}" for i in range(1, 701)]
    eighth = labelled_subset(ids, 8)
    assert len(eighth) == 88 and eighth == sorted(eighth) and set(eighth) <= set(ids)
    assert labelled_subset(ids, 8) == eighth and labelled_subset(ids, 8, seed=1) != eighth
    assert len(labelled_subset(ids, 2)) == 350
    with pytest.raises(ValueError, match="fraction must be a positive integer"):
        labelled_subset(ids, 0)


@pytest.mark.parametrize("fraction", [8, 2])
def test_the_published_ccp_id_lists_are_the_seeded_subsets(fraction):
    from helpers import CONFIGS

    published = (CONFIGS / "ccp" / "splits" / f"hipn_labelled_1of{fraction}.txt").read_text().split()
    assert published == labelled_subset([f"{i:04d}" for i in range(1, 701)], fraction, seed=0)
