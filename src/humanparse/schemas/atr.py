"""ATR label schema (18 classes)."""

from __future__ import annotations

from .base import LabelSchema
from .hierarchy import body_hierarchy

ATR = LabelSchema(
    name="atr",
    classes=(
        "Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress",
        "Belt", "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg", "Left-arm",
        "Right-arm", "Bag", "Scarf",
    ),
    flip_pairs=(("Left-shoe", "Right-shoe"), ("Left-leg", "Right-leg"), ("Left-arm", "Right-arm")),
    groups=(
        ("head", ("Hat", "Hair", "Sunglasses", "Face")),
        ("upper_body", ("Upper-clothes", "Scarf")),
        ("lower_body", ("Pants", "Skirt")),
        ("left_arm", ("Left-arm",)),
        ("right_arm", ("Right-arm",)),
        ("left_leg", ("Left-leg",)),
        ("right_leg", ("Right-leg",)),
        ("left_shoe", ("Left-shoe",)),
        ("right_shoe", ("Right-shoe",)),
    ),
    description="ATR: 17 fashion classes plus background, single person.",
    # LIP's halves for the shared classes; the belt holds up the lower garments, the bag is
    # carried at the arm or shoulder.
    hierarchy=body_hierarchy(
        "Background",
        ("Hat", "Hair", "Sunglasses", "Upper-clothes", "Dress", "Face", "Left-arm", "Right-arm", "Bag", "Scarf"),
        ("Skirt", "Pants", "Belt", "Left-shoe", "Right-shoe", "Left-leg", "Right-leg"),
    ),
)
