"""Malformed annotation files through ``humanparse data check``: each is reported as a problem
naming the file, the entry and the field, never a traceback."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import scipy.io

from helpers import (
    coco_document, lip_pose_row, mpii_entries, mpii_ground_truth, write_black_image, write_csv_rows,
)
from humanparse.cli import main
from mutations import mat_bytes, png_claiming


def _coco(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], list[str]]:
    def build(tmp_path: Path) -> list[str]:
        write_black_image(tmp_path / "one.jpg")
        doc = coco_document()
        change(doc)
        (tmp_path / "coco.json").write_text(json.dumps(doc))
        return ["--format", "coco", str(tmp_path / "coco.json")]

    return build


def _coco_text(text: bytes) -> Callable[[Path], list[str]]:
    def build(tmp_path: Path) -> list[str]:
        write_black_image(tmp_path / "one.jpg")
        (tmp_path / "coco.json").write_bytes(text)
        return ["--format", "coco", str(tmp_path / "coco.json")]

    return build


def _mpii(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], list[str]]:
    def build(tmp_path: Path) -> list[str]:
        write_black_image(tmp_path / "a.jpg")
        entries = mpii_entries()
        change(entries[0])
        (tmp_path / "mpii.json").write_text(json.dumps(entries))
        return ["--format", "mpii", str(tmp_path / "mpii.json")]

    return build


def _mpii_mat(**variables: Any) -> Callable[[Path], list[str]]:
    def build(tmp_path: Path) -> list[str]:
        scipy.io.savemat(tmp_path / "gt.mat", {**mpii_ground_truth(), **variables})
        return ["--format", "mpii", str(tmp_path / "gt.mat")]

    return build


def _mpii_mat_bytes(change: Callable[[bytes], bytes]) -> Callable[[Path], list[str]]:
    def build(tmp_path: Path) -> list[str]:
        (tmp_path / "gt.mat").write_bytes(change(mat_bytes(mpii_ground_truth())))
        return ["--format", "mpii", str(tmp_path / "gt.mat")]

    return build


def _unknown_type_for_pos_gt_src(data: bytes) -> bytes:
    """The file with the type code of pos_gt_src's 96 doubles (9, miDOUBLE) replaced by 255."""
    tag = data.index(struct.pack("<II", 9, 96 * 8))
    return data[:tag] + struct.pack("<I", 255) + data[tag + 4 :]


def _lip(pose_csv: bytes | None = None, id_list: bytes | None = None) -> Callable[[Path], list[str]]:
    """A one-image LIP folder (common layout) with the given pose CSV and id list."""

    def build(tmp_path: Path) -> list[str]:
        from PIL import Image

        write_black_image(tmp_path / "val_images" / "a.jpg")
        (tmp_path / "val_segmentations").mkdir()
        Image.fromarray(np.zeros((30, 40), np.uint8)).save(tmp_path / "val_segmentations" / "a.png")
        if pose_csv is not None:
            (tmp_path / "lip_val_set.csv").write_bytes(pose_csv)
        if id_list is not None:
            (tmp_path / "val_id.txt").write_bytes(id_list)
        return ["--format", "lip", str(tmp_path)]

    return build


def _row(name: str = "a.jpg", **cells: str) -> bytes:
    """A LIP pose CSV row with the cells at the given 1-based columns (``c2="x"``) replaced."""
    row = lip_pose_row(name)
    for column, text in cells.items():
        row[int(column[1:]) - 1] = text
    return (",".join(row) + "\n").encode()


def _folder_with_bomb(tmp_path: Path) -> list[str]:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(png_claiming(40_000, 40_000))
    return ["--format", "folder", "--schema", "lip", str(tmp_path)]


def _set(key: str, value: Any, where: str = "annotations") -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc[where][0].update({key: value})


# name -> (files to check, what the report must say)
CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "coco: image id a list": (_coco(_set("id", [1], "images")), "images[0], 'id': expected an integer or a string, got a list of 1 item"),
    "coco: image id an object": (_coco(_set("id", {"a": 1}, "images")), "images[0], 'id': expected an integer or a string, got an object"),
    "coco: image_id a list": (_coco(_set("image_id", [1])), "annotations[0], 'image_id': expected an integer or a string, got a list"),
    "coco: category_id a list": (_coco(_set("category_id", [1])), "annotations[0], 'category_id': expected an integer or a string"),
    "coco: category id a list": (_coco(_set("id", [1], "categories")), "categories[0], 'id': expected an integer or a string"),
    "coco: categories a number": (_coco(lambda d: d.update(categories=5)), "'categories': expected a list of objects, got 5"),
    "coco: image id as text": (_coco(_set("id", "1", "images")), "annotations[0], 'image_id': 1 is not among the images (the image's id is '1': ids must match in type too)"),
    "coco: annotation id text": (_coco(_set("id", "x")), "annotations[0] (image one.jpg), 'id': expected an integer, got a string ('x')"),
    "coco: annotation id huge": (_coco(_set("id", 10**30)), "'id': expected an integer, got 1000000000000000000000000000000"),
    "coco: keypoint beyond float32": (_coco(_set("keypoints", [1e39, 1.0, 2] * 17)), "'keypoints': expected 51 numbers (x, y, v per joint), got 1e+39 (beyond ±1e+06) in item 0"),
    "coco: keypoints as text": (_coco(_set("keypoints", ["10", "11", "2"] * 17)), "'keypoints': expected 51 numbers (x, y, v per joint), got a string ('10') in item 0"),
    "coco: iscrowd text": (_coco(_set("iscrowd", "0")), "annotations[0], 'iscrowd': expected 0 or 1, got a string ('0')"),
    "coco: height text": (_coco(_set("height", "30", "images")), "images[0] (one.jpg), 'height': expected a positive number of pixels, got a string ('30')"),
    "coco: 10 MB file name": (_coco(_set("file_name", "a" * 10_000_000, "images")), "images[0], 'file_name' is 10000000 characters long (at most 4096)"),
    "coco: nested 100000 deep": (_coco_text(b"[" * 100_000 + b"]" * 100_000), "coco.json: unreadable json: nested too deeply"),
    "coco: latin-1 text": (_coco_text('{"images": [], "x": "caf\xe9"}'.encode("latin-1")), "coco.json: keypoint json is not UTF-8 text (byte 0xe9 on line 1)"),
    "mpii: joints a string": (_mpii(lambda e: e.update(joints="abc")), "mpii.json: entry 0 (a.jpg), 'joints': expected 16 [x, y] pairs, got a string ('abc')"),
    "mpii: scale huge": (_mpii(lambda e: e.update(scale=1e300)), "entry 0 (a.jpg), 'scale': expected a number, got 1e+300 (beyond ±1e+06)"),
    "mpii: scale negative": (_mpii(lambda e: e.update(scale=-1.5)), "entry 0 (a.jpg), 'scale': expected a positive number, got -1.5"),
    "mpii: image name too long for a file": (_mpii(lambda e: e.update(image="a" * 300 + ".jpg")), "image file cannot be opened: File name too long"),
    "mpii: joints_vis true/false": (_mpii(lambda e: e.update(joints_vis=[True] * 16)), "'joints_vis': expected 16 flags of 0 or 1, got true in item 0"),
    "mpii mat: pos_gt_src text": (_mpii_mat(pos_gt_src="hello"), "gt.mat: 'pos_gt_src' must be an array of real numbers, found text"),
    "mpii mat: headboxes a cell array": (_mpii_mat(headboxes_src=np.array([[1, "a"]], dtype=object)), "'headboxes_src' must be an array of real numbers, found a cell array or struct"),
    "mpii mat: pos_gt_src complex": (_mpii_mat(pos_gt_src=np.ones((16, 2, 3)) * 1j), "'pos_gt_src' must be an array of real numbers, found complex numbers"),
    "mpii mat: element type scipy would crash on": (_mpii_mat_bytes(_unknown_type_for_pos_gt_src), "gt.mat: unreadable .mat file: element of unknown or misplaced type 255 at byte"),
    "mpii mat: element past the end": (_mpii_mat_bytes(lambda d: d[:-40]), "gt.mat: unreadable .mat file: element at byte"),
    "mpii mat: jnt_missing 2": (_mpii_mat(jnt_missing=np.full((16, 3), 2)), "jnt_missing must hold 0 or 1, found [2.0]"),
    "mpii mat: infinite head box": (_mpii_mat(headboxes_src=np.full((2, 2, 3), np.inf)), "gt.mat: 'headboxes_src' holds inf at index (0, 0, 0); expected finite numbers within ±1e+06"),
    "lip: pose CSV field over the csv limit": (_lip(pose_csv=b"a" * 200_000 + b"\n"), "lip_val_set.csv: line 1: unreadable pose CSV: field larger than field limit"),
    "lip: pose CSV value beyond float32": (_lip(pose_csv=_row(c2="1e39")), "lip_val_set.csv: line 1, column 2: keypoint value '1e39' is beyond ±1e+06"),
    "lip: pose CSV flag 7": (_lip(pose_csv=_row(c4="7")), "lip_val_set.csv: line 1, column 4: visibility flag '7' must be 0 or 1"),
    "lip: pose CSV name too long": (_lip(pose_csv=_row("a" * 5000)), "lip_val_set.csv: line 1: image name is 5000 characters long (at most 4096)"),
    "lip: id with a NUL": (_lip(id_list=b"a\x00b\n"), "val_id.txt: line 1: id 'a\\x00b' holds a control character ('\\x00')"),
    "folder: decompression bomb": (_folder_with_bomb, "images/a.png: image is 40000x40000 pixels (W x H, 1,600,000,000 in all), over the limit of 180,000,000"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_annotation_files_are_reported_by_file_and_field(case, tmp_path, capsys):
    build, message = CASES[case]
    code = main(["data", "check", *build(tmp_path)])
    captured = capsys.readouterr()
    assert code in (1, 2) and "Traceback" not in captured.err
    assert message in captured.out + captured.err


def test_byte_order_marks_are_not_part_of_the_first_name(tmp_path, capsys):
    write_black_image(tmp_path / "one.jpg")
    (tmp_path / "coco.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(coco_document()).encode())
    assert main(["data", "check", "--format", "coco", str(tmp_path / "coco.json")]) == 0
    lip = tmp_path / "lip"
    _lip(pose_csv=b"\xef\xbb\xbf" + _row())(lip)
    assert main(["data", "check", "--format", "lip", str(lip)]) == 0, capsys.readouterr().out


def test_csv_rows_keep_their_line_numbers_past_a_bad_row(tmp_path):
    from humanparse.data.readers.lip import scan_lip_pose_csv

    path = write_csv_rows(tmp_path / "pose.csv", [lip_pose_row("a.jpg"), [], lip_pose_row("b.jpg")[:5], lip_pose_row("c.jpg")])
    scan = scan_lip_pose_csv(path)
    assert scan.lines == {"a.jpg": 1, "c.jpg": 4}
    assert [str(e).split(": ", 1)[1][:7] for e in scan.errors] == ["line 3:"]
