"""Moved to :mod:`humanparse.inference.predictor` (prediction lives with inference); kept so that
earlier imports keep working."""

from ..inference.predictor import ParsingPrediction, ParsingPredictor, Prediction, Predictor, class_ids, normalize

__all__ = ["ParsingPrediction", "ParsingPredictor", "Prediction", "Predictor", "class_ids", "normalize"]
