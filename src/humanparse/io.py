"""Reading the project's own small files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import HumanparseError


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


__all__ = ["read_yaml_mapping"]
