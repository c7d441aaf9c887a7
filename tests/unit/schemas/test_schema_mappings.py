from __future__ import annotations

import numpy as np
import pytest

from humanparse.data.sample import MISSING, OCCLUDED, VISIBLE
from humanparse.schemas import (
    ATR,
    CIHP,
    COCO_JOINTS,
    JOINT_SCHEMAS,
    LIP,
    MEDIAPIPE_POSE,
    SchemaError,
    get_joint_schema,
    get_label_mapping,
    label_mapping_from_dict,
    load_label_mapping,
)

# -- label mappings -------------------------------------------------------------------

# LIP paper, Section 6 / Table 8: "the 16 common categories".
LIP_PAPER_COMMON = (
    "hat, hair, sunglasses, upper clothes, dress, pants, scarf, skirt, face, right arm, left arm, "
    "right leg, left leg, right shoe, left shoe, background"
)


def _plain(name: str) -> str:
    return name.lower().replace("-", " ")


def test_lip_to_atr_is_the_papers_16_common_classes():
    table = get_label_mapping("lip", "atr").table()
    mapped = {s for s, t in table.items() if t is not None}
    assert {_plain(c) for c in mapped} == set(LIP_PAPER_COMMON.split(", "))
    assert len(mapped) == 16
    assert all(table[c] == c for c in mapped)
    assert {s for s, t in table.items() if t is None} == {"Glove", "Coat", "Socks", "Jumpsuits"}
    back = get_label_mapping("atr", "lip").table()
    assert {s for s, t in back.items() if t is None} == {"Belt", "Bag"}


def test_lip_to_atr_on_a_label_map():
    # LIP: Background, Hat, Coat, Upper-clothes, Left-arm, Right-shoe, ignore.
    label = np.array([[0, 1, 7], [5, 14, 19], [255, 255, 12]], dtype=np.uint8)
    out = LIP.mapping_to("atr").apply(label)
    # ATR ids: Background 0, Hat 1, Upper-clothes 4, Left-arm 14, Right-shoe 10, Skirt 5.
    assert out.dtype == np.uint8 and out.tolist() == [[0, 1, 255], [4, 14, 10], [255, 255, 5]]


def test_cihp_and_lip_share_all_but_class_10():
    torch = pytest.importorskip("torch")
    to_lip, to_cihp = get_label_mapping(CIHP, LIP), get_label_mapping("lip", "cihp")
    expected = list(range(10)) + [255] + list(range(11, 20))
    assert list(to_lip.targets) == expected and list(to_cihp.targets) == expected
    label = torch.tensor([[10, 13], [255, 19]], dtype=torch.uint8)
    assert to_lip.apply(label).tolist() == [[255, 13], [255, 19]]


def test_to_pascal_maps_only_classes_inside_one_part():
    lip = get_label_mapping("lip", "pascal_person_part").table()
    assert {c for c, t in lip.items() if t == "head"} == {"Hat", "Hair", "Sunglasses", "Face"}
    assert lip["Left-shoe"] == lip["Socks"] == "lower_legs" and lip["Glove"] == "lower_arms"
    assert lip["Left-arm"] is None and lip["Pants"] is None and lip["Upper-clothes"] is None
    assert get_label_mapping("cihp", "pascal_person_part").table()["Torso-skin"] == "torso"
    label = np.array([0, 2, 3, 9, 18, 255])
    assert get_label_mapping("lip", "pascal_person_part").apply(label).tolist() == [0, 1, 4, 255, 6, 255]
    assert get_label_mapping("atr", "pascal_person_part").apply(np.array([16, 11])).tolist() == [255, 1]


def test_builtin_mapping_lookup():
    assert get_label_mapping("lip", "lip").targets == tuple(range(20))
    with pytest.raises(SchemaError, match="no built-in mapping 'ccp' -> 'lip'.*lip->atr"):
        get_label_mapping("ccp", "lip")
    with pytest.raises(ValueError, match="label ids 30"):
        get_label_mapping("lip", "atr").apply(np.array([30]))


def test_label_mapping_from_yaml(tmp_path):
    p = tmp_path / "mapping.yaml"
    p.write_text(
        "source: lip\ntarget: pascal_person_part\nunmapped: background\n"
        "map: {Face: head, Hair: head, Upper-clothes: torso, Pants: 255}\n"
    )
    m = load_label_mapping(p)
    label = np.array([0, 13, 2, 5, 9, 16, 255])
    assert m.apply(label).tolist() == [0, 1, 1, 2, 255, 0, 255]
    again = label_mapping_from_dict(m.to_dict())
    # to_dict writes every mapped class and unmapped: ignore, so the ids match, not the policy.
    assert again.apply(np.array([13, 5, 9])).tolist() == [1, 2, 255]
    assert label_mapping_from_dict(LIP.mapping_to(ATR).to_dict()) == LIP.mapping_to(ATR)


@pytest.mark.parametrize(
    "body, message",
    [
        ("source: lip\ntarget: atr\nmap: {Hat: Hat, Cap: Hat, Boots: Hat}", "unknown lip classes 'Cap', 'Boots'"),
        ("source: lip\ntarget: atr\nmap: {Hat: Helmet, Coat: Upper-clothes}", "unknown atr classes 'Helmet'"),
        ("source: lip\ntarget: atr\nunmapped: drop\nmap: {Hat: Hat}", "'unmapped' must be 'ignore' or 'background'"),
        ("source: lip\nmap: {Hat: Hat}", "needs 'target'"),
        ("source: lip\ntarget: atr\nmap: [Hat]", "'map' must be a mapping"),
        ("source: lip\ntarget: atr\nmap: {}\nextra: 1", "unknown keys ['extra']"),
        ("source: nope\ntarget: atr\nmap: {}", "unknown label schema 'nope'"),
    ],
)
def test_invalid_label_mappings(tmp_path, body, message):
    p = tmp_path / "mapping.yaml"
    p.write_text(body)
    with pytest.raises(SchemaError) as err:
        load_label_mapping(p)
    assert message in str(err.value) and str(p) in str(err.value)


# -- joint mappings -------------------------------------------------------------------


def _coco_person():
    kp = np.full((17, 3), np.nan)
    kp[:, 2] = MISSING
    named = {
        "left_shoulder": (60, 40), "right_shoulder": (20, 40), "left_ear": (48, 10), "right_ear": (32, 10),
        "left_hip": (50, 100), "right_hip": (30, 100), "left_knee": (52, 140), "right_wrist": (5, 90),
    }
    for name, xy in named.items():
        kp[COCO_JOINTS.joints.index(name)] = (*xy, VISIBLE)
    return kp


def test_coco_to_lip_by_hand():
    people = np.stack([_coco_person(), _coco_person()])
    people[0, COCO_JOINTS.joints.index("left_ear"), 2] = OCCLUDED
    people[1, COCO_JOINTS.joints.index("right_ear")] = (np.nan, np.nan, MISSING)
    mapping = COCO_JOINTS.mapping_to("lip")
    assert mapping.derived == ("pelvis", "thorax", "upper_neck", "head_top")
    out = mapping.apply(people)
    assert out.shape == (2, 16, 3)
    j = get_joint_schema("lip").joints.index
    # Thorax = shoulder midpoint (40, 40); ear midpoint (40, 10); upper neck halfway (40, 25);
    # head top = ears + 0.65 * (ears - thorax) = (40, 10 - 19.5); pelvis = hip midpoint.
    np.testing.assert_allclose(out[0, j("thorax")], [40, 40, VISIBLE])
    np.testing.assert_allclose(out[0, j("pelvis")], [40, 100, VISIBLE])
    np.testing.assert_allclose(out[0, j("upper_neck")], [40, 25, OCCLUDED])  # least visible input
    np.testing.assert_allclose(out[0, j("head_top")], [40, -9.5, OCCLUDED])
    np.testing.assert_allclose(out[0, j("l_knee")], [52, 140, VISIBLE])
    np.testing.assert_allclose(out[0, j("r_wrist")], [5, 90, VISIBLE])
    assert out[0, j("r_ankle"), 2] == MISSING and np.isnan(out[0, j("r_ankle"), :2]).all()
    # Without the right ear the head joints cannot be derived; the thorax still can.
    for name in ("upper_neck", "head_top"):
        assert out[1, j(name), 2] == MISSING and np.isnan(out[1, j(name), :2]).all()
    np.testing.assert_allclose(out[1, j("thorax")], [40, 40, VISIBLE])


def test_mediapipe_schema_and_mapping_to_mpii():
    mp = JOINT_SCHEMAS["mediapipe_pose"]
    assert mp is MEDIAPIPE_POSE and mp.num_joints == 33
    assert mp.joints[0] == "nose" and mp.joints[11] == "left_shoulder" and mp.joints[32] == "right_foot_index"
    perm = mp.flip_permutation
    assert (perm[perm] == np.arange(33)).all() and perm[0] == 0 and perm[9] == 10 and perm[29] == 30
    mapping = mp.mapping_to("mpii")
    assert mapping.missing == () and mapping.derived == ("pelvis", "thorax", "upper_neck", "head_top")
    kp = np.zeros((1, 33, 3), dtype=np.float32)
    kp[0, :, 0] = np.arange(33)
    kp[0, :, 2] = VISIBLE
    out = mapping.apply(kp)
    assert out.dtype == np.float32
    mpii = get_joint_schema("mpii").joints
    assert out[0, mpii.index("l_knee"), 0] == 25 and out[0, mpii.index("r_ankle"), 0] == 28
    assert out[0, mpii.index("pelvis"), 0] == pytest.approx(23.5)
    assert get_joint_schema("lip").mapping_to("coco").missing == (
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    )
    with pytest.raises(ValueError, match=r"not \(\.\.\., 33, 3\)"):
        mapping.apply(kp[:, :17])


def _flip(kp, schema, width):
    out = kp[..., schema.flip_permutation, :].copy()
    out[..., 0] = width - 1 - out[..., 0]
    return out


@pytest.mark.parametrize("source, target", [("coco", "lip"), ("mediapipe_pose", "mpii"), ("lip", "coco")])
def test_mapping_commutes_with_flipping(source, target):
    src, tgt = get_joint_schema(source), get_joint_schema(target)
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(0, 200, (5, src.num_joints, 2)), rng.integers(0, 3, (5, src.num_joints, 1))], -1)
    kp[kp[..., 2] == MISSING, :2] = np.nan
    mapping = src.mapping_to(tgt)
    a = _flip(mapping.apply(kp), tgt, 200)
    b = mapping.apply(_flip(kp, src, 200))
    np.testing.assert_allclose(a, b, atol=1e-9)
    assert np.isfinite(a[..., :2]).any()


def test_predicted_points_are_carried_by_name():
    # LIP's joints are MPII's, in the same order: predictions pass unchanged.
    lip_to_mpii = get_joint_schema("lip").mapping_to("mpii")
    xy = np.random.default_rng(0).uniform(0, 100, (2, 16, 2))
    np.testing.assert_allclose(lip_to_mpii.points(xy), xy)
    assert lip_to_mpii.describe() == "lip joints scored as mpii: 16 copied by name"
    # MPII has no eyes, ears or nose: those COCO joints come out NaN (a scorer counts them wrong).
    mpii_to_coco = get_joint_schema("mpii").mapping_to("coco")
    out = mpii_to_coco.points(xy[0])
    faces = [COCO_JOINTS.joints.index(n) for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
    assert out.shape == (17, 2) and np.isnan(out[faces]).all()
    np.testing.assert_allclose(out[COCO_JOINTS.joints.index("left_knee")], xy[0, 4])
    assert "nose, left_eye, right_eye, left_ear, right_ear missing" in mpii_to_coco.describe()
    # a NaN point stays NaN, also in the joints derived from it
    coco = np.full((17, 2), 10.0)
    coco[COCO_JOINTS.joints.index("left_hip")] = np.nan
    derived = COCO_JOINTS.mapping_to("mpii").points(coco)
    assert np.isnan(derived[get_joint_schema("mpii").joints.index("pelvis")]).all()
