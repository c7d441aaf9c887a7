"""Data: the Sample type, image and annotation IO, readers, synthetic humans, transforms."""

from .image_io import DataError
from .sample import MISSING, OCCLUDED, VISIBLE, MapSpec, Sample, collate

__all__ = ["DataError", "MISSING", "OCCLUDED", "VISIBLE", "MapSpec", "Sample", "collate"]
