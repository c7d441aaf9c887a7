"""Writing files whole or not at all, and refusing remote weight locations (humanparse.io)."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from helpers import fill_disk_after, leftovers
from humanparse.errors import ConfigError, DataError
from humanparse.io import atomic_file, atomic_folder, is_remote, local_path, write_json, write_text_atomically


@pytest.mark.parametrize(
    "path", ["http://127.0.0.1:8000/x.ckpt", "https://example.org/w.pth", "s3://bucket/last.ckpt", "file:///tmp/a.ckpt",
             "hf://org/model", "simplecache::http://h/x.ckpt", "gcs://b/x", "./sub/http://x"],
)
def test_remote_locations_are_refused_naming_the_key(path):
    assert is_remote(path)
    with pytest.raises(ConfigError, match=r"train\.resume: .* is a URL or remote location"):
        local_path(path, "train.resume", ConfigError)


@pytest.mark.parametrize("path", ["runs/a/last.ckpt", "/abs/model", "last.ckpt", "C:/weights/r50.pth", "~/w.pt"])
def test_local_paths_pass(path):
    assert not is_remote(path)
    assert local_path(path, "train.resume", ConfigError) == Path(path)


def test_a_write_that_fills_the_disk_leaves_the_earlier_file(tmp_path, monkeypatch):
    target = tmp_path / "scores.json"
    write_json(target, {"miou": 41.0})
    before = target.read_bytes()
    fill_disk_after(monkeypatch, room=5)
    with pytest.raises(DataError) as error:
        write_json(target, {"miou": 42.0, "per_class": list(range(100))})
    assert error.value.path == str(target)
    assert "No space left on device" in str(error.value) and "earlier file there is unchanged" in str(error.value)
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_any_failure_removes_the_temporary_file_and_keeps_its_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyError):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise KeyError("writer bug")
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_the_temporary_file_keeps_the_extension_and_the_result_an_ordinary_mode(tmp_path):
    with atomic_file(tmp_path / "a" / "label.png") as tmp:
        assert tmp.parent == tmp_path / "a" and tmp.suffix == ".png" and ".partial" in tmp.name
        tmp.write_bytes(b"png")
    mode = (tmp_path / "a" / "label.png").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_a_folder_is_replaced_whole_or_left_alone(tmp_path, monkeypatch):
    target = tmp_path / "model"
    with atomic_folder(target) as tmp:
        (tmp / "a.bin").write_bytes(b"1" * 10)
        (tmp / "b.json").write_text("{}")
    fill_disk_after(monkeypatch, room=3, where=".bin")
    with pytest.raises(DataError, match="No space left on device") as error:
        with atomic_folder(target) as tmp:
            (tmp / "b.json").write_text('{"new": 1}')
            (tmp / "a.bin").write_bytes(b"2" * 10)
    assert error.value.path == str(target)
    assert (target / "a.bin").read_bytes() == b"1" * 10 and (target / "b.json").read_text() == "{}"
    assert leftovers(tmp_path) == []


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 64 KiB tmpfs (root only; skipped where it cannot be mounted)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny filesystem needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_really_full_disk(tiny_filesystem):
    target = tiny_filesystem / "last.txt"
    write_text_atomically(target, "earlier run\n")
    with pytest.raises(DataError, match="No space left on device") as error:
        write_text_atomically(target, "x" * 200_000)
    assert error.value.path == str(target) and isinstance(error.value.__cause__, OSError)
    assert error.value.__cause__.errno == errno.ENOSPC
    assert target.read_text() == "earlier run\n"
    assert leftovers(tiny_filesystem) == []
