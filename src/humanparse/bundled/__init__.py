"""Model files and example photos that ship inside the package.

Each bundled model is a model folder (``model.json`` + ``model.safetensors``, see
:mod:`humanparse.inference.model_file`) under this package, named by its folder:
``humanparse predict photo.jpg`` uses :data:`DEFAULT_MODEL`, ``--model NAME`` any other, and
``humanparse models`` lists them with their classes, input size and validation scores (the
``validation`` entry of their model.json). ``examples/`` holds three CCP training photos;
``NOTICE`` gives their source, citation and licence.

Everything is found through :mod:`importlib.resources`, so it is read from wherever the
package is installed, never from a source checkout.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..inference.model_file import CONFIG_FILE, DESCRIPTION_KEYS, WEIGHTS_FILE, load_model, read_model_info, save_model

DEFAULT_MODEL = "ccp-lite0"
EXAMPLES_FOLDER = "examples"


def _package_dir() -> Path:
    # A regular (not zipped) install: the package's resources are files on disk.
    return Path(str(files(__name__)))


def bundled_models() -> list[str]:
    """Names of the bundled models, sorted."""
    root = _package_dir()
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and (p / CONFIG_FILE).is_file() and (p / WEIGHTS_FILE).is_file()
    )


def bundled_model_path(name: str = DEFAULT_MODEL) -> Path:
    """The folder of bundled model ``name``; an unknown name is a :class:`UsageError` listing the known ones."""
    names = bundled_models()
    if name not in names:
        known = ", ".join(names) or "none (the package was installed without its model files)"
        raise UsageError(f"no bundled model {name!r}; bundled: {known}")
    return _package_dir() / name


def resolve_model(value: str | Path | None) -> Path:
    """A ``--model`` value as a path: None is :data:`DEFAULT_MODEL`, a bundled model's name
    (with no file or folder of that name here) is its folder, anything else is a path."""
    if value is None:
        return bundled_model_path(DEFAULT_MODEL)
    path = Path(value)
    if not path.exists() and str(value) in bundled_models():
        return _package_dir() / str(value)
    return path


def example_photos() -> list[Path]:
    """The bundled example photos (CCP training photos; see the package's NOTICE)."""
    folder = _package_dir() / EXAMPLES_FOLDER
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".jpg")


def bundled_model_info(name: str) -> dict[str, Any]:
    """model.json of bundled model ``name``."""
    return read_model_info(bundled_model_path(name))


def describe_bundled_models() -> list[dict[str, Any]]:
    """One summary per bundled model: name, whether default, model, backbone, input size,
    classes, joints (or None), size on disk in MB and the recorded validation scores."""
    rows = []
    for name in bundled_models():
        folder = _package_dir() / name
        info = read_model_info(folder)
        schema = info.get("label_schema") or {}
        joints = info.get("joint_schema")
        rows.append({
            "name": name,
            "default": name == DEFAULT_MODEL,
            "model": info["model"].get("name"),
            "backbone": info["model"].get("backbone"),
            "head": info["model"].get("head"),
            "input_size": info.get("input_size"),
            "schema": schema.get("name"),
            "classes": list(schema.get("classes", [])),
            "joints": list(joints.get("joints", [])) if joints else None,
            "megabytes": round(sum(f.stat().st_size for f in folder.iterdir()) / 1e6, 1),
            "validation": info.get("validation"),
        })
    return rows


def bundle_model(
    source: str | Path, target: str | Path, validation: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> Path:
    """Write model folder ``source`` to ``target`` as a bundled model: half-precision weights
    (see :func:`~humanparse.inference.model_file.save_model`), the same description, and
    ``validation`` (what ``humanparse evaluate --json`` wrote) and ``training`` (how it was
    made) recorded in its model.json for ``humanparse models``."""
    saved = load_model(source)
    extra = {k: v for k, v in saved.info.items() if k not in DESCRIPTION_KEYS}
    if validation is not None:
        extra["validation"] = validation
    if training is not None:
        extra["training"] = training
    return save_model(
        target, saved.model, saved.spec, saved.label_schema, saved.input_size, saved.mean, saved.std,
        extra=extra, joint_schema=saved.joint_schema, half=True,
    )


__all__ = [
    "DEFAULT_MODEL",
    "bundle_model",
    "bundled_model_info",
    "bundled_model_path",
    "bundled_models",
    "describe_bundled_models",
    "example_photos",
    "resolve_model",
]
