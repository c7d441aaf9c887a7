"""Reading and writing the project's own files.

Every file the tool writes (checkpoints, model folders, ONNX exports, predictions, scores) goes
through :func:`atomic_file` or :func:`atomic_folder`: it is written beside its target under a
temporary name and renamed onto it only once complete, so a full disk or a crash leaves the
earlier file as it was, never a truncated one under the final name.

Every path the tool reads weights or checkpoints from goes through :func:`local_path`: a URL
(or any other ``scheme://`` location that fsspec-style loaders would fetch) is refused, so a
config or flag cannot make the tool download and unpickle a file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from .errors import DataError, HumanparseError

# "http://", "s3://", "file://", "hf://", "simplecache::http://": what fsspec would open. Two
# letters at least before the colon, so that a Windows drive ("C:/...") stays a path.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:")


def read_yaml_mapping(path: str | Path, error: type[HumanparseError], what: str, empty: bool = False) -> dict[str, Any]:
    """The mapping a YAML file holds; ``error`` (naming the file and ``what`` it should be) when it
    cannot be read, is not YAML or holds something else. ``empty``: an empty file is ``{}``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise error(f"{path}: cannot read {what}: {e}") from e
    except yaml.YAMLError as e:
        raise error(f"{path}: not valid YAML: {e}") from e
    if data is None and empty:
        return {}
    if not isinstance(data, dict):
        raise error(f"{path}: {what} must hold a mapping")
    return data


# --------------------------------------------------------------------------- weights and checkpoints


def is_remote(path: str | Path) -> bool:
    """Whether ``path`` names a location by a scheme (``http://...``) rather than a local file."""
    text = str(path)
    return bool(_SCHEME.match(text)) or "://" in text


def local_path(path: str | Path, key: str, error: type[HumanparseError]) -> Path:
    """``path`` as a local path; a URL or other ``scheme://`` location raises ``error`` naming
    ``key`` (the config key or flag that gave it): weights and checkpoints are read from local
    files only, never downloaded."""
    if is_remote(path):
        raise error(f"{key}: {str(path)!r} is a URL or remote location; weights and checkpoints are read "
                    "from local files only (download the file, check it, and give its path)")
    return Path(path)


# --------------------------------------------------------------------------- writing


def _not_written(target: Path, error: OSError) -> DataError:
    reason = error.strerror or str(error)
    return DataError(target, f"could not be written ({reason}); any earlier file there is unchanged")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(target: str | Path, durable: bool = True) -> Iterator[Path]:
    """A temporary path beside ``target`` (same extension: writers that pick the format from it
    still work) to write the file to; when the block ends it is renamed onto ``target``. If
    anything fails, the temporary file is removed and ``target`` is as it was; a failure of the
    disk (full, read-only, no permission) becomes a :class:`DataError` naming ``target``.
    ``durable``: the file is flushed to disk before the rename, so that it survives a power
    cut too (off for outputs written by the thousand, where a flush costs more than the file)."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".partial{target.suffix}")
        os.close(fd)
    except OSError as e:
        raise _not_written(target, e) from e
    tmp = Path(name)
    try:
        yield tmp
        if durable:
            _fsync(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's file is private; give it an ordinary file's mode
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise _not_written(target, e) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(target: str | Path, write: Callable[[Path], Any], durable: bool = True) -> Path:
    """``write(temporary path)`` and rename the result onto ``target`` (see :func:`atomic_file`)."""
    with atomic_file(target, durable) as tmp:
        write(tmp)
    return Path(target)


def write_text_atomically(target: str | Path, text: str, durable: bool = True) -> Path:
    return write_atomically(target, lambda p: p.write_text(text, encoding="utf-8"), durable)


def write_json(target: str | Path, payload: Any, allow_nan: bool = False, durable: bool = True) -> Path:
    """``payload`` as indented JSON, atomically; NaN is refused before anything is written
    unless ``allow_nan``."""
    return write_text_atomically(target, json.dumps(payload, indent=2, allow_nan=allow_nan) + "\n", durable)


def _replace_folder(tmp: Path, target: Path) -> None:
    """Move a finished temporary folder onto ``target``, replacing an older folder there."""
    if not target.exists():
        os.replace(tmp, target)
        return
    # Rename the old folder aside first: a directory can only be renamed onto an empty one.
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    os.replace(target, old / target.name)
    try:
        os.replace(tmp, target)
    except OSError:
        os.replace(old / target.name, target)  # put the old folder back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_folder(target: str | Path, durable: bool = True) -> Iterator[Path]:
    """A temporary folder beside ``target`` to fill; when the block ends it replaces ``target``
    whole. If anything fails, the temporary folder is removed and ``target`` is as it was; a
    failure of the disk becomes a :class:`DataError` naming ``target``. ``durable``: its files
    are flushed to disk before the rename (off for what can be made again, where thousands of
    flushes would cost more than the files)."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.partial-"))
    except OSError as e:
        raise _not_written(target, e) from e
    try:
        yield tmp
        for file in tmp.rglob("*") if durable else ():
            if file.is_file():
                _fsync(file)
        os.chmod(tmp, 0o777 & ~_umask())
        _replace_folder(tmp, target)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _not_written(target, e) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


__all__ = [
    "atomic_file", "atomic_folder", "is_remote", "local_path", "read_yaml_mapping", "write_atomically", "write_json",
    "write_text_atomically",
]
