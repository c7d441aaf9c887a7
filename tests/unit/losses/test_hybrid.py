"""Noise-tolerant hybrid learning: the negative-learning loss, the complementary labels, the
clean/noisy split of the hybrid loss, and loss terms routed by the samples' source."""

from __future__ import annotations

import pytest
import torch

from humanparse.losses import LossContext, LossTerm, NoiseTolerantLoss, ParsingLoss, build_losses
from humanparse.losses.hybrid import complementary_labels, negative_log_complement
from humanparse.losses import LossConfigError
from humanparse.models import ModelOutput
from humanparse.schemas import LIP


def test_negative_learning_is_minus_log_one_minus_p_bounded_below_and_pushes_p_down():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 3, 4, requires_grad=True)
    classes = torch.randint(0, 5, (2, 3, 4))
    loss = negative_log_complement(logits, classes)
    p = logits.softmax(1).gather(1, classes[:, None])[:, 0]
    torch.testing.assert_close(loss, -torch.log1p(-p))
    assert (loss >= 0).all()
    loss.sum().backward()
    # Descending the gradient lowers the probability of the complementary class.
    with torch.no_grad():
        after = (logits - 0.5 * logits.grad).softmax(1).gather(1, classes[:, None])[:, 0]
    assert (after < p).all()
    # Stable where p_ŷ is nearly 1: large but finite.
    sure = torch.tensor([[[[40.0]], [[0.0]]]])
    assert torch.isfinite(negative_log_complement(sure, torch.zeros(1, 1, 1, dtype=torch.long))).all()


def test_complementary_labels_are_never_the_label_and_cover_the_other_classes():
    label = torch.full((20000,), 3)
    drawn = complementary_labels(label, 6, torch.Generator().manual_seed(0))
    assert not (drawn == label).any()
    counts = torch.bincount(drawn, minlength=6)
    assert counts[3] == 0 and (counts[[0, 1, 2, 4, 5]] > 0.18 * 20000).all()
    # Redrawn at every call.
    assert not torch.equal(complementary_labels(label, 6), complementary_labels(label, 6))


def _output(logits: torch.Tensor) -> ModelOutput:
    return ModelOutput(logits=logits)


def test_clean_pixels_get_cross_entropy_and_noisy_ones_negative_learning():
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 2, 2)
    label = torch.tensor([[[0, 1], [2, 3]]])
    noisy = torch.tensor([[[0, 0], [1, 1]]], dtype=torch.uint8)
    loss = NoiseTolerantLoss(alpha=0.5)
    result = loss(_output(logits), {"label": label, "maps": {"noisy": noisy}})
    ce = torch.nn.functional.cross_entropy(logits, label, reduction="none")[0]
    torch.testing.assert_close(result["positive"], ce[0].mean())  # the clean row only
    assert result["noisy_fraction"].item() == pytest.approx(0.5)
    # The noisy pixels' term is -log(1 - p) of some other class: between its bounds.
    p = logits.softmax(1)[0, :, 1]  # (4 classes, 2 pixels) of the noisy row
    others = [-torch.log1p(-p[k, j]) for j, y in enumerate((2, 3)) for k in range(4) if k != y]
    assert min(others) - 1e-6 <= result["negative"] <= max(others) + 1e-6
    torch.testing.assert_close(result["loss"], 0.5 * result["positive"] + 0.5 * result["negative"])


def test_without_a_noise_map_the_hybrid_loss_is_alpha_times_cross_entropy():
    torch.manual_seed(0)
    logits, label = torch.randn(2, 4, 3, 3), torch.randint(0, 4, (2, 3, 3))
    label[0, 0, 0] = 255
    result = NoiseTolerantLoss(alpha=0.7)(_output(logits), {"label": label})
    expected = torch.nn.functional.cross_entropy(logits, label, ignore_index=255)
    torch.testing.assert_close(result["loss"], 0.7 * expected)
    assert result["negative"] == 0


def test_bad_alpha_is_refused():
    with pytest.raises(LossConfigError, match=r"alpha must be a number in \[0, 1\]"):
        build_losses([{"type": "noise_tolerant", "alpha": 1.5}], LossContext(LIP), True, False)


def test_a_term_routed_to_a_source_sees_only_its_samples():
    torch.manual_seed(0)
    logits, label = torch.randn(3, 4, 2, 2), torch.randint(0, 4, (3, 2, 2))
    batch = {"image": torch.zeros(3, 3, 2, 2), "label": label,
             "meta": [{"source": "pseudo"}, {}, {"source": "pseudo"}]}
    term = LossTerm("cross_entropy", ParsingLoss(), source="pseudo")
    output, sub = term.routed(_output(logits), batch)
    assert output.logits.shape[0] == 2 and torch.equal(sub["label"], label[[0, 2]])
    assert [m.get("source") for m in sub["meta"]] == ["pseudo", "pseudo"]
    labelled = LossTerm("cross_entropy", ParsingLoss(), source="labelled")
    assert torch.equal(labelled.routed(_output(logits), batch)[1]["label"], label[[1]])
    assert LossTerm("cross_entropy", ParsingLoss(), source="pseudo").routed(
        _output(logits), {**batch, "meta": [{}, {}, {}]}) is None
    with pytest.raises(LossConfigError, match="source must be one of all, labelled, pseudo"):
        build_losses([{"type": "cross_entropy", "source": "teacher"}], LossContext(LIP), True, False)
