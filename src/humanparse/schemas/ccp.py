"""Clothing Co-Parsing (CCP) label schema: 59 classes, no left/right split."""

from __future__ import annotations

from .base import LabelSchema

CCP_CLASSES = (
    "null", "accessories", "bag", "belt", "blazer", "blouse", "bodysuit", "boots", "bra",
    "bracelet", "cape", "cardigan", "clogs", "coat", "dress", "earrings", "flats", "glasses",
    "gloves", "hair", "hat", "heels", "hoodie", "intimate", "jacket", "jeans", "jumper",
    "leggings", "loafers", "necklace", "panties", "pants", "pumps", "purse", "ring", "romper",
    "sandals", "scarf", "shirt", "shoes", "shorts", "skin", "skirt", "sneakers", "socks",
    "stockings", "suit", "sunglasses", "sweater", "sweatshirt", "swimwear", "t-shirt", "tie",
    "tights", "top", "vest", "wallet", "watch", "wedges",
)

# CCP has no body-part classes ("skin" covers face, arms and legs), so the pseudo-joints
# are the centres of garment groups at four heights of the body.
CCP_GROUPS = (
    ("head", ("hair", "hat", "glasses", "sunglasses", "earrings")),
    ("upper_body", (
        "blazer", "blouse", "bodysuit", "bra", "cape", "cardigan", "coat", "hoodie", "jacket",
        "jumper", "scarf", "shirt", "sweater", "sweatshirt", "t-shirt", "tie", "top", "vest",
    )),
    ("lower_body", ("jeans", "leggings", "pants", "panties", "shorts", "skirt", "stockings", "tights")),
    ("feet", (
        "boots", "clogs", "flats", "heels", "loafers", "pumps", "sandals", "shoes", "sneakers",
        "socks", "wedges",
    )),
)

CCP = LabelSchema(
    name="ccp",
    classes=CCP_CLASSES,
    groups=CCP_GROUPS,
    description="Clothing Co-Parsing: 58 clothing classes plus null, street-fashion photos.",
)
