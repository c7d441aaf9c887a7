"""Reading the project's own small files, and checking that outputs can be written before any work."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .errors import HumanparseError, UsageError


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


__all__ = ["DuplicateKeyError", "check_writable_dir", "check_writable_file", "parse_yaml", "read_yaml_mapping", "yaml_problem"]
