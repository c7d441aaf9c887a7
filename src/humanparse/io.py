"""Reading and writing the project's own files, and checking that outputs can be written before any work.

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

from .errors import DataError, HumanparseError, UsageError


class DuplicateKeyError(yaml.YAMLError):
    """A mapping that gives one key twice (plain YAML keeps the last silently)."""

    def __init__(self, key: str, first_line: int, second_line: int) -> None:
        self.key, self.first_line, self.second_line = key, first_line, second_line
        lines = f"on line {first_line}" if first_line == second_line else f"on lines {first_line} and {second_line}"
        super().__init__(f"key '{key}' is given twice, {lines}; keep one")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key repeated within one mapping."""

    def construct_document(self, node: yaml.Node) -> Any:
        self._check_unique_keys(node, "", set())
        return super().construct_document(node)

    def _check_unique_keys(self, node: yaml.Node, where: str, visited: set[int]) -> None:
        if id(node) in visited:  # an alias: checked where its anchor is
            return
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *defaults" is overridden on purpose
                    continue
                key = self.construct_object(key_node, deep=True)
                path = f"{where}.{key}" if where else str(key)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise DuplicateKeyError(path, seen[key], line)
                    seen[key] = line
                except TypeError:  # an unhashable key: the base loader reports it
                    continue
                self._check_unique_keys(value_node, path, visited)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._check_unique_keys(item, f"{where}[{i}]", visited)


def parse_yaml(text: str) -> Any:
    """What a YAML text holds (safe types only); a key repeated in a mapping is an error."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)


def yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error in one line: the problem and where it is."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(error).split())

# "http://", "s3://", "file://", "hf://", "simplecache::http://": what fsspec would open. Two
# letters at least before the colon, so that a Windows drive ("C:/...") stays a path.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:")


def read_yaml_mapping(path: str | Path, error: type[HumanparseError], what: str, empty: bool = False) -> dict[str, Any]:
    """The mapping a YAML file holds; ``error`` (naming the file and ``what`` it should be) when it
    cannot be read, is not UTF-8 text, is not YAML, repeats a key or holds something else.
    ``empty``: an empty file is ``{}``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise error(f"{path}: cannot read {what}: {e}") from e
    except UnicodeDecodeError as e:
        raise error(f"{path}: not a text YAML file (byte 0x{e.object[e.start]:02x} at offset {e.start} "
                    "is not UTF-8)") from None
    try:
        data = parse_yaml(text)
    except DuplicateKeyError as e:
        raise error(f"{path}: {e}") from None
    except yaml.reader.ReaderError as e:  # control characters: a binary file that happens to decode
        code = e.character if isinstance(e.character, int) else ord(e.character[:1] or "\0")
        raise error(f"{path}: not a text YAML file (control character 0x{code:02x} at offset {e.position})") from None
    except yaml.YAMLError as e:
        raise error(f"{path}: not valid YAML: {yaml_problem(e)}") from None
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


# --------------------------------------------------------------------------- outputs


def _probe_folder(folder: Path) -> str | None:
    """Why nothing can be created in the existing folder ``folder`` (None: it can). Tried for
    real: permission bits say nothing for root, ACLs or a read-only mount."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".humanparse-write-check-", dir=folder)
    except OSError as e:
        return e.strerror or str(e)
    os.close(fd)
    os.unlink(probe)
    return None


def _folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be used (or made) as a folder to write into; None when it can."""
    if folder.exists():
        if not folder.is_dir():
            return "exists and is a file, not a folder"
        problem = _probe_folder(folder)
        return f"cannot write into {folder}: {problem}" if problem else None
    ancestor = folder.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot be created: {ancestor} is a file, not a folder"
    problem = _probe_folder(ancestor)
    return f"cannot be created in {ancestor}: {problem}" if problem else None


def check_writable_dir(path: str | Path, what: str) -> Path:
    """``path`` as a folder that exists or can be made, and that files can be written into; a
    :class:`UsageError` naming ``what`` (the option) and the path and saying why not. Nothing is
    left on disk."""
    path = Path(path)
    problem = _folder_problem(path)
    if problem:
        raise UsageError(f"{what} {path}: {problem}")
    return path


def check_writable_file(path: str | Path, what: str) -> Path:
    """``path`` as a file that can be written (made, or replaced); a :class:`UsageError` naming
    ``what`` and the path and saying why not. Nothing is left on disk."""
    path = Path(path)
    if path.is_dir():
        problem: str | None = "exists and is a folder, not a file"
    else:
        problem = _folder_problem(path.parent)
        if problem and path.parent.exists() and not path.parent.is_dir():
            problem = f"cannot be created: {path.parent} is a file, not a folder"
    if problem:
        raise UsageError(f"{what} {path}: {problem}")
    return path


__all__ = [
    "DuplicateKeyError", "atomic_file", "atomic_folder", "check_writable_dir", "check_writable_file", "is_remote",
    "local_path", "parse_yaml", "read_yaml_mapping", "write_atomically", "write_json", "write_text_atomically",
    "yaml_problem",
]
