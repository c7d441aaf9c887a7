"""The one YAML reader (configs, schemas, label mappings): a repeated key, a binary file and a
syntax error are each one line naming the file, never a silent override or a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import REPO
from humanparse.cli import main
from humanparse.config import load_config, parse_override
from humanparse.errors import ConfigError, SchemaError
from humanparse.schemas import get_label_schema


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_a_key_repeated_in_a_config_names_the_file_the_key_and_both_lines(tmp_path):
    path = _write(tmp_path / "run.yaml", "model: {name: deeplab}\ntrain:\n  lr: 0.1\n  max_epochs: 3\n  lr: 0.5\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == f"{path}: key 'train.lr' is given twice, on lines 3 and 5; keep one"


@pytest.mark.parametrize(
    "text, message",
    [
        ("train: {lr: 0.1, lr: 0.2}\n", "key 'train.lr' is given twice, on line 1"),
        ("loss:\n  - {type: cross_entropy}\n  - type: heatmap_l2\n    type: cross_entropy\n",
         "key 'loss[1].type' is given twice, on lines 3 and 4"),
        ("train: {}\ntrain: {lr: 0.1}\n", "key 'train' is given twice, on lines 1 and 2"),
    ],
)
def test_a_key_repeated_anywhere_is_an_error(tmp_path, text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(_write(tmp_path / "c.yaml", text))


def test_a_merge_key_may_be_overridden():
    from humanparse.io import parse_yaml

    assert parse_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n") == {"base": {"x": 1, "y": 2}, "c": {"x": 3, "y": 2}}


def test_a_key_repeated_in_an_override_value_is_an_error():
    with pytest.raises(ConfigError, match=r"override .*: value is not valid YAML: key '\[0\]\.type' is given twice"):
        parse_override("loss=[{type: cross_entropy, type: heatmap_l2}]")


def test_a_key_repeated_in_a_schema_file_is_a_schema_error(tmp_path):
    path = _write(tmp_path / "s.yaml", "name: s\nclasses: [background, a]\nname: t\n")
    with pytest.raises(SchemaError, match=re.escape(f"{path}: key 'name' is given twice, on lines 1 and 3")):
        get_label_schema(str(path))


PNG_START = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


@pytest.mark.parametrize(
    "content, detail",
    [
        (PNG_START, "byte 0x89 at offset 0 is not UTF-8"),
        (b"\xff\xfe" + "name: x".encode("utf-16-le"), "byte 0xff at offset 0 is not UTF-8"),
        (b"name: x\x00\x01\x02", "control character 0x00 at offset 7"),
    ],
    ids=["png", "utf-16", "nul bytes"],
)
def test_a_binary_file_as_config_or_schema_says_so(tmp_path, capsys, content, detail):
    path = _write(tmp_path / "weights.yaml", content)
    with pytest.raises(ConfigError, match=re.escape(f"{path}: not a text YAML file ({detail}")):
        load_config(path)
    assert main(["schemas", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"humanparse: error: {path}: not a text YAML file ({detail}")
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_syntax_error_is_one_line_with_its_place(tmp_path):
    path = _write(tmp_path / "bad.yaml", "model: [unclosed\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == f"{path}: not valid YAML: expected ',' or ']', but got '<stream end>' (line 2, column 1)"


def test_every_yaml_read_in_the_package_goes_through_the_one_reader():
    package = REPO / "src" / "humanparse"
    direct = [
        f"{p.relative_to(package)}:{i}"
        for p in package.rglob("*.py") if p.name != "io.py"
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"yaml\.(safe_)?load(_all)?\(", line)
    ]
    assert not direct, f"read YAML with humanparse.io.parse_yaml / read_yaml_mapping instead: {direct}"


# ----------------------------------------------------------------------------- outputs


def test_the_output_checks_accept_what_can_be_written_and_leave_nothing_behind(tmp_path):
    from humanparse.io import check_writable_dir, check_writable_file

    assert check_writable_dir(tmp_path / "a" / "b", "--out") == tmp_path / "a" / "b"
    assert check_writable_dir(tmp_path, "--out") == tmp_path
    (tmp_path / "old.json").write_text("{}")
    assert check_writable_file(tmp_path / "old.json", "--json") == tmp_path / "old.json"  # replaced, not refused
    assert check_writable_file(tmp_path / "x" / "new.json", "--json") == tmp_path / "x" / "new.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]


def test_the_output_checks_name_the_option_the_path_and_why(tmp_path):
    from humanparse.errors import UsageError
    from humanparse.io import check_writable_dir, check_writable_file

    blocker = tmp_path / "f"
    blocker.write_text("")
    with pytest.raises(UsageError, match=re.escape(f"--out {blocker / 'a' / 'b'}: cannot be created: {blocker} is a file")):
        check_writable_dir(blocker / "a" / "b", "--out")
    with pytest.raises(UsageError, match=re.escape(f"--json {blocker / 's.json'}: cannot be created: {blocker} is a file")):
        check_writable_file(blocker / "s.json", "--json")
    with pytest.raises(UsageError, match=re.escape(f"--json {tmp_path}: exists and is a folder, not a file")):
        check_writable_file(tmp_path, "--json")
