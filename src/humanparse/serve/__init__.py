"""``humanparse serve``: an HTTP API and a web page that parse photos (the ``serve`` extra).

The models are loaded once, at start; requests that arrive together are batched into one
forward pass (:mod:`humanparse.serve.batching`); the endpoints are in
:mod:`humanparse.serve.app`. The server binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError

LOCALHOST = "127.0.0.1"


def model_name(value: str | None, path: Path) -> str:
    """The name a served model answers to: a bundled model's name, else its folder's (the run's
    folder for ``RUN/model``)."""
    if value is not None and not Path(value).exists():
        return str(value)  # a bundled name
    folder = path.parent if path.name == "model.json" else path
    return folder.parent.name if folder.name == "model" and folder.parent.name else folder.name


def load_served_models(values: Sequence[str | None], device: str = "cpu", settings=None) -> list:
    """A :class:`~humanparse.serve.app.ServedModel` for each ``--model`` value (None: the bundled default)."""
    from ..bundled import resolve_model
    from ..inference.model_file import load_model
    from ..inference.predictor import Predictor
    from .app import ServedModel, ServeSettings

    settings = settings or ServeSettings()
    served, names = [], set()
    for value in values or [None]:
        path = resolve_model(value)
        saved = load_model(path, device)
        name = base = model_name(value, path)
        suffix = 2
        while name in names:
            name, suffix = f"{base}-{suffix}", suffix + 1
        names.add(name)
        served.append(ServedModel(name, saved, Predictor.from_saved(saved), settings))
    return served


def run_server(
    values: Sequence[str | None], host: str = LOCALHOST, port: int = 8000, device: str = "cpu", settings=None,
) -> int:
    """Load the models and serve them until interrupted."""
    try:
        import uvicorn

        from .app import create_app
    except ImportError as e:
        raise UsageError(f"{e}; humanparse serve needs the serve extra: pip install 'humanparse[serve]'") from None
    if not 0 < port < 65536:
        raise UsageError(f"--port must be in 1..65535, not {port}")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        print(f"serving on {host}: other machines can reach this server (there is no authentication)", file=sys.stderr)
    app = create_app(load_served_models(values, device, settings), *(() if settings is None else (settings,)))
    print(f"humanparse serve: http://{host}:{port}/ (API under /v1, schema at /v1/openapi.json)", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="info", workers=1)
    return 0


__all__ = ["LOCALHOST", "load_served_models", "model_name", "run_server"]
