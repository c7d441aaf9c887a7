"""Clothing Co-Parsing (CCP) label schema: 59 classes, no left/right split."""

from __future__ import annotations

from .base import LabelSchema
from .hierarchy import body_hierarchy

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

# HIPN's halves for garments. A pixel has one parent, so classes that reach both halves sit
# where they mostly are: skin with the upper body (face, neck and arms show in nearly every
# photo, bare legs in fewer); hair and head wear, jewellery, watches, gloves and the generic
# "accessories" with the upper body; bags, purses and wallets too (carried at the arm or
# shoulder). One-piece garments follow LIP's split: dresses, suits, bodysuits and swimwear
# with the upper body, rompers (LIP's jumpsuits) with the lower. Belts hold up the lower
# garments; socks, hosiery and all shoes are lower body.
CCP_UPPER_BODY = (
    "hair", "hat", "glasses", "sunglasses", "earrings", "necklace", "scarf", "tie", "skin",
    "blazer", "blouse", "bodysuit", "bra", "cape", "cardigan", "coat", "dress", "hoodie", "intimate",
    "jacket", "jumper", "shirt", "suit", "sweater", "sweatshirt", "swimwear", "t-shirt", "top", "vest",
    "gloves", "bracelet", "ring", "watch", "accessories", "bag", "purse", "wallet",
)
CCP_LOWER_BODY = (
    "belt", "jeans", "leggings", "panties", "pants", "romper", "shorts", "skirt", "socks", "stockings",
    "tights", "boots", "clogs", "flats", "heels", "loafers", "pumps", "sandals", "shoes", "sneakers", "wedges",
)

CCP = LabelSchema(
    name="ccp",
    classes=CCP_CLASSES,
    groups=CCP_GROUPS,
    description="Clothing Co-Parsing: 58 clothing classes plus null, street-fashion photos.",
    hierarchy=body_hierarchy("null", CCP_UPPER_BODY, CCP_LOWER_BODY),
)
