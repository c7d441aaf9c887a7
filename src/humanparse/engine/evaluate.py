"""Moved to :mod:`humanparse.evaluation.evaluate` (scoring a model file uses no Lightning); kept so
that earlier imports keep working."""

from ..evaluation.evaluate import Evaluation, evaluate_model, run_evaluate

__all__ = ["Evaluation", "evaluate_model", "run_evaluate"]
