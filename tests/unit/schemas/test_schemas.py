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
    label_schema_from_dict,
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


# -- hierarchy ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lip", "cihp", "atr", "pascal_person_part", "ccp"])
def test_builtin_hierarchies_map_every_class_once(name):
    schema = get_label_schema(name)
    assert schema.level_names == ("full_body", "half_body")
    full, half = schema.level("full_body"), schema.level("half_body")
    assert full.classes == ("background", "person")
    assert half.classes == ("background", "upper_body", "lower_body")
    for level in (full, half):
        ids = sorted(i for m in level.members for i in m)
        assert ids == list(range(schema.num_classes))
        assert level.parent_of[0] == 0 and (level.parent_of[1:] > 0).all()
    # Nested: every upper- or lower-body class is a person class.
    assert (full.parent_of[half.parent_of > 0] == 1).all()


def test_lip_half_body_by_hand():
    # Background, Hat, Jumpsuits, Face, Left-arm, Right-shoe, ignore.
    label = np.array([[0, 1, 10], [13, 14, 19], [255, 9, 6]], dtype=np.uint8)
    half = LIP.level_labels(label, "half_body")
    assert half.dtype == np.uint8
    assert half.tolist() == [[0, 1, 2], [1, 1, 2], [255, 2, 1]]
    assert LIP.level_labels(label, "full_body").tolist() == [[0, 1, 1], [1, 1, 1], [255, 1, 1]]
    cihp = get_label_schema("cihp")
    assert cihp.level_labels(np.array([10]), "half_body").tolist() == [1]  # torso skin: upper body


def test_pascal_half_body_is_hipn_split():
    # HIPN: upper body = head, torso, upper and lower arms (1-4); lower body = the legs (5-6).
    schema = get_label_schema("pascal_person_part")
    assert schema.level("half_body").parent_of.tolist() == [0, 1, 1, 1, 1, 2, 2]


def test_ccp_half_body_places_skin_bags_and_shoes():
    ccp = get_label_schema("ccp")
    half = ccp.level("half_body")
    side = {c: half.classes[half.parent_of[i]] for i, c in enumerate(ccp.classes)}
    assert side["null"] == "background"
    for c in ("skin", "hair", "bag", "purse", "accessories", "necklace", "dress", "blouse"):
        assert side[c] == "upper_body", c
    for c in ("belt", "jeans", "romper", "socks", "shoes", "sneakers", "boots", "tights"):
        assert side[c] == "lower_body", c


def test_level_labels_torch_keeps_dtype_device_and_ignore():
    torch = pytest.importorskip("torch")
    label = torch.tensor([[0, 5, 255], [16, 17, 3]], dtype=torch.uint8)
    out = LIP.level_labels(label, "half_body")
    assert out.dtype == torch.uint8 and out.tolist() == [[0, 1, 255], [2, 2, 1]]
    wide = LIP.level_labels(label.long(), "half_body")
    assert wide.dtype == torch.int64 and wide.tolist() == out.tolist()
    with pytest.raises(ValueError, match="label ids 20 are not classes of schema 'lip'"):
        LIP.level_labels(torch.tensor([0, 20]), "half_body")
    with pytest.raises(ValueError, match="label ids 20 are not classes"):
        LIP.level_labels(np.array([0, 20]), "half_body")


def test_level_probabilities_sum_the_children():
    torch = pytest.importorskip("torch")
    schema = get_label_schema("pascal_person_part")
    probs = np.zeros((1, 7, 1, 2), dtype=np.float32)
    probs[0, :, 0, 0] = [0.1, 0.2, 0.1, 0.1, 0.1, 0.3, 0.1]
    probs[0, :, 0, 1] = [0.7, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3]
    half = schema.level_probabilities(probs, "half_body")
    assert half.shape == (1, 3, 1, 2)
    np.testing.assert_allclose(half[0, :, 0, 0], [0.1, 0.5, 0.4], rtol=1e-6)
    np.testing.assert_allclose(half[0, :, 0, 1], [0.7, 0.0, 0.3], rtol=1e-6)
    last = schema.level_probabilities(torch.from_numpy(probs).movedim(1, -1), "full_body", dim=-1)
    np.testing.assert_allclose(last[0, 0, :, :].numpy(), [[0.1, 0.9], [0.7, 0.3]], rtol=1e-6)
    with pytest.raises(ValueError, match="5 classes along dim 1; schema .pascal_person_part. has 7"):
        schema.level_probabilities(probs[:, :5], "half_body")


def test_level_flip_pairs_follow_the_classes():
    from humanparse.schemas import LabelSchema

    s = LabelSchema(
        name="limbs",
        classes=("bg", "l_arm", "r_arm", "l_hand", "r_hand", "torso"),
        flip_pairs=(("l_arm", "r_arm"), ("l_hand", "r_hand")),
        hierarchy={
            "sides": {"bg": ["bg"], "left": ["l_arm", "l_hand"], "right": ["r_arm", "r_hand"], "mid": ["torso"]}
        },
    )
    assert s.level("sides").flip_pairs == ((1, 2),)
    assert s.level("sides").flip_permutation.tolist() == [0, 2, 1, 3]


def test_hierarchy_yaml_round_trip(tmp_path):
    import yaml

    p = _write(
        tmp_path,
        """
name: tryon
classes: [background, hair, face, upper, lower, left_arm, right_arm]
flip_pairs: [[left_arm, right_arm]]
hierarchy:
  full_body: {background: [background], person: [hair, face, upper, lower, left_arm, right_arm]}
  half_body:
    background: [0]
    upper_body: [hair, face, upper, left_arm, right_arm]
    lower_body: [lower]
""",
    )
    s = get_label_schema(str(p))
    assert s.level_names == ("full_body", "half_body")
    assert s.level("half_body").parent_of.tolist() == [0, 1, 1, 1, 2, 1, 1]
    again = _write(tmp_path, yaml.safe_dump(s.to_dict(), sort_keys=False), "again.yaml")
    assert get_label_schema(str(again)) == s
    for schema in LABEL_SCHEMAS.values():
        assert label_schema_from_dict(schema.to_dict()) == schema


def test_cli_prints_the_hierarchy(capsys):
    from humanparse.cli import main

    assert main(["schemas", "pascal_person_part"]) == 0
    out = capsys.readouterr().out
    assert "level half_body: 3 classes" in out
    assert "upper_body: head, torso, upper_arms, lower_arms" in out


_H = "classes: [bg, a, b, c]\nflip_pairs: [[a, b]]\nhierarchy:\n"


@pytest.mark.parametrize(
    "body, message",
    [
        (_H + "  one: {bg: [bg], x: [a, b]}", "classes not mapped to a coarse class: c"),
        (_H + "  one: {bg: [bg], x: [a, b, c], y: [c]}", "class 'c' is in both 'x' and 'y'"),
        (_H + "  one: {bg: [bg], x: [a, b, zz]}", "unknown class 'zz'"),
        (_H + "  one: {bg: [bg], x: [], y: [a, b, c]}", "coarse class 'x' needs a non-empty list"),
        (_H + "  one: {bg: [bg], x: a, y: [b, c]}", "coarse class 'x' needs a non-empty list"),
        (_H + "  one: {bg: [bg], x: [a, c], y: [b]}", "the mirror of coarse class 'x' is not one coarse class"),
        (_H + "  one: [bg, a]", "'hierarchy.one' must be a mapping"),
        (
            _H + "  one: {bg: [bg], x: [a, b], y: [c]}\n  two: {bg: [bg, c], x: [a, b]}",
            "class 'bg' spans bg, y of level 'one'",
        ),
    ],
)
def test_invalid_hierarchies(tmp_path, body, message):
    p = _write(tmp_path, body)
    with pytest.raises(SchemaError) as err:
        get_label_schema(str(p))
    assert message in str(err.value) and str(p) in str(err.value)


def test_invalid_hierarchies_in_python():
    from humanparse.schemas import LabelSchema

    with pytest.raises(SchemaError, match="duplicate hierarchy level 'one' class name 'x'"):
        LabelSchema("s", ("bg", "a"), hierarchy=(("one", (("x", ("bg",)), ("x", ("a",)))),))
    with pytest.raises(SchemaError, match="duplicate hierarchy level 'one'"):
        LabelSchema("s", ("bg", "a"), hierarchy=(("one", {"x": ("bg", "a")}), ("one", {"x": ("bg", "a")})))
    with pytest.raises(SchemaError, match="no hierarchy level 'parts' \\(levels: full_body, half_body\\)"):
        LIP.level("parts")
