"""The errors the tool reports to its user: one family, so the command line can catch them all.

Every error here names what was wrong (the file, the key, the argument) in its message. The
command line (``humanparse.cli``) is the only place that prints them and picks the exit code;
library code raises them. Each is also a ``ValueError``, so callers that caught ``ValueError``
before keep working.
"""

from __future__ import annotations

from pathlib import Path


class HumanparseError(Exception):
    """Base of every error the tool reports as a one-line message instead of a traceback."""


class UsageError(HumanparseError, ValueError):
    """Arguments that cannot be used together or at all (a command's flags, a function's options)."""


class ConfigError(HumanparseError, ValueError):
    """A config file or override that cannot be used; the message says which key and why."""


class SchemaError(HumanparseError, ValueError):
    """A label or joint schema definition that is inconsistent."""


class DataError(HumanparseError, ValueError):
    """A problem with one file (dataset, weights, model file); ``path`` names the file."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class WeightsError(DataError):
    """A weights file that cannot be read or does not fit the module; ``path`` names it."""


class ModelFileError(DataError):
    """A model folder (``model.json`` + weights) that is missing, damaged or inconsistent."""


__all__ = ["ConfigError", "DataError", "HumanparseError", "ModelFileError", "SchemaError", "UsageError", "WeightsError"]
