"""Moved to :mod:`humanparse.inference.model_file` (models know nothing of files); kept so that
earlier imports keep working."""

from ..inference.model_file import *  # noqa: F401,F403
from ..inference.model_file import __all__  # noqa: F401
