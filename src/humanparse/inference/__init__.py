"""Using a saved model: ``humanparse predict`` on images, folders and videos, and ONNX export."""

from .export import export_onnx
from .predict import colour_overlay, run_predict

__all__ = ["colour_overlay", "export_onnx", "run_predict"]
