"""Synthetic humans: seeded, cheap images of articulated people with LIP labels and joints.

Poses come from a kinematic tree with joint limits; people are seen from the front or
the back (left and right follow the person, so a back view swaps them on screen);
clothes, skin, hair and backgrounds share colour distributions so that no class can be
told by colour alone, and left and right limbs share their appearance so that only
the figure's structure tells them apart.
"""

from .generator import MIN_SIZE, SyntheticHumans
from .writer import write_synthetic_dataset

__all__ = ["MIN_SIZE", "SyntheticHumans", "write_synthetic_dataset"]
