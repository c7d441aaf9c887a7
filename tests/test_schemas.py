from __future__ import annotations

import numpy as np
import pytest

from humanparse.schemas import (
    JOINT_SCHEMAS,
    LABEL_SCHEMAS,
    LIP,
    SchemaError,
    get_joint_schema,
    get_label_schema,
)


def test_lip_schema_matches_reference():
    assert LIP.num_classes == 20
    assert LIP.classes[14] == "Left-arm" and LIP.classes[19] == "Right-shoe"
    assert LIP.palette[2] == (255, 0, 0) and LIP.palette[19] == (255, 170, 0)
    perm = LIP.flip_permutation
    assert (perm[[14, 15, 16, 17, 18, 19]] == [15, 14, 17, 16, 19, 18]).all()
    assert (perm[:14] == np.arange(14)).all()
    assert len(LIP.groups) == 9
    assert dict(LIP.groups)["head"] == (1, 2, 4, 13)


def test_builtin_schemas_are_consistent():
    assert set(LABEL_SCHEMAS) == {"lip", "cihp", "atr", "pascal_person_part", "ccp"}
    assert LABEL_SCHEMAS["cihp"].classes[10] == "Torso-skin"
    assert LABEL_SCHEMAS["atr"].num_classes == 18
    assert LABEL_SCHEMAS["pascal_person_part"].num_classes == 7
    assert LABEL_SCHEMAS["pascal_person_part"].flip_pairs == ()
    ccp = LABEL_SCHEMAS["ccp"]
    assert ccp.num_classes == 59 and ccp.flip_pairs == ()
    assert ccp.group_names == ("head", "upper_body", "lower_body", "feet")
    for schema in LABEL_SCHEMAS.values():
        perm = schema.flip_permutation
        assert (perm[perm] == np.arange(schema.num_classes)).all()
        assert len(schema.palette) == schema.num_classes
        assert len(schema.flat_palette()) == 768


def test_joint_schemas():
    mpii, lip, coco = (JOINT_SCHEMAS[n] for n in ("mpii", "lip", "coco"))
    assert mpii.num_joints == lip.num_joints == 16 and coco.num_joints == 17
    perm = lip.flip_permutation
    assert perm[13] == 12 and perm[12] == 13 and perm[0] == 5 and perm[9] == 9
    assert mpii.pck.kind == "headbox" and mpii.pck.factor == pytest.approx(0.6)
    assert lip.pck.kind == "joints" and lip.pck.joints == (8, 9)
    assert dict(lip.table)["Head"] == (8, 9) and dict(mpii.table)["Head"] == (9,)
    assert mpii.mean_excluded == (6, 7)
    assert coco.flip_permutation[5] == 6
    for a, b in coco.skeleton:
        assert 0 <= a < 17 and 0 <= b < 17


def _write(tmp_path, text, name="schema.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_custom_label_schema_from_yaml(tmp_path):
    p = _write(
        tmp_path,
        """
name: tryon
classes: [background, hair, face, upper, left_arm, right_arm]
palette: [[0,0,0],[1,1,1],[2,2,2],[3,3,3],[4,4,4],[5,5,5]]
flip_pairs: [[left_arm, right_arm]]
groups:
  head: [hair, face]
  arms: [4, 5]
""",
    )
    s = get_label_schema(str(p))
    assert s.name == "tryon" and s.num_classes == 6
    assert s.flip_pairs == ((4, 5),)
    assert dict(s.groups) == {"head": (1, 2), "arms": (4, 5)}
    assert s.palette[3] == (3, 3, 3)


@pytest.mark.parametrize(
    "body, message",
    [
        ("classes: [a, b, a]", "duplicate class name 'a'"),
        ("classes: [a, b]\nflip_pairs: [[0, 2]]", "out of range"),
        ("classes: [a, b]\nflip_pairs: [[a, c]]", "unknown class 'c'"),
        ("classes: [a, b]\npalette: [[0,0,0]]", "palette has 1 colours for 2 classes"),
        ("classes: [a, b]\npalette: [[0,0,0],[0,0,300]]", "palette entry 1"),
        ("classes: [a, b]\ngroups: {g: [a, zz]}", "unknown class 'zz'"),
        ("classes: [a, b, c]\nflip_pairs: [[a, b], [b, c]]", "in two pairs"),
        ("clases: [a, b]", "unknown keys"),
        ("name: x", "needs 'classes'"),
        ("- a\n- b", "must hold a mapping"),
        ("classes: [a, b\n", "not valid YAML"),
    ],
)
def test_custom_label_schema_errors(tmp_path, body, message):
    p = _write(tmp_path, body)
    with pytest.raises(SchemaError) as err:
        get_label_schema(str(p))
    assert message in str(err.value)
    assert str(p) in str(err.value)


def test_custom_joint_schema_from_yaml(tmp_path):
    p = _write(
        tmp_path,
        """
name: mine
joints: [head, neck, l_hand, r_hand]
flip_pairs: [[l_hand, r_hand]]
skeleton: [[head, neck], [neck, l_hand], [neck, r_hand]]
pck: {kind: joints, joints: [head, neck], factor: 1.0}
table: {Head: [head], Hands: [l_hand, r_hand]}
""",
    )
    s = get_joint_schema(str(p))
    assert s.flip_permutation.tolist() == [0, 1, 3, 2]
    assert s.pck.joints == (0, 1)
    assert dict(s.table) == {"Head": (0,), "Hands": (2, 3)}


@pytest.mark.parametrize(
    "body, message",
    [
        ("joints: [a, a]", "duplicate joint name"),
        ("joints: [a, b]\nskeleton: [[a, c]]", "unknown joint 'c'"),
        ("joints: [a, b]\npck: {kind: box}", "PCK reference kind"),
        ("joints: [a, b]\npck: {kind: joints}", "needs two joints"),
        ("joints: [a, b]\nflip_pairs: [[0, 5]]", "out of range"),
    ],
)
def test_custom_joint_schema_errors(tmp_path, body, message):
    p = _write(tmp_path, body)
    with pytest.raises(SchemaError, match=message):
        get_joint_schema(str(p))


def test_unknown_builtin_names():
    with pytest.raises(SchemaError, match="unknown label schema 'nope'"):
        get_label_schema("nope")
    with pytest.raises(SchemaError, match="unknown joint schema 'nope'"):
        get_joint_schema("nope")
