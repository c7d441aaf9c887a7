"""Parsing and pose metrics under the official protocols, and the ``humanparse score`` commands."""

from .parsing_metrics import (
    ABSENT_CONVENTIONS,
    SIZE_BUCKETS,
    ConfusionMatrix,
    ParsingScores,
    SizeBreakdown,
    left_right_confusion,
    majority_scores,
    parsing_scores,
    size_bucket,
)
from .pose_metrics import PCKAccumulator, PCKSummary, auc, normalized_distances, reference_lengths

__all__ = [
    "ABSENT_CONVENTIONS", "SIZE_BUCKETS", "ConfusionMatrix", "PCKAccumulator", "PCKSummary",
    "ParsingScores", "SizeBreakdown", "auc", "left_right_confusion", "majority_scores", "normalized_distances", "parsing_scores",
    "reference_lengths", "size_bucket",
]
