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
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from .app import ServedModel, ServeSettings

LOCALHOST = "127.0.0.1"


def model_name(value: str | None, path: Path) -> str:
    """The name a served model answers to: a bundled model's name, else its folder's (the run's
    folder for ``RUN/model``)."""
    if value is not None and not Path(value).exists():
        return str(value)  # a bundled name
    folder = path.parent if path.name == "model.json" else path
    return folder.parent.name if folder.name == "model" and folder.parent.name else folder.name


def load_served_models(
    values: Sequence[str | None], device: str = "cpu", settings: ServeSettings | None = None
) -> list[ServedModel]:
    """A :class:`~humanparse.serve.app.ServedModel` for each ``--model`` value (None: the bundled default)."""
    from ..bundled import resolve_model
    from ..inference.model_file import load_model
    from ..inference.predictor import Predictor
    from .app import ServedModel, ServeSettings

    settings = settings or ServeSettings()
    served: list[ServedModel] = []
    names: set[str] = set()
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
    values: Sequence[str | None], host: str = LOCALHOST, port: int = 8000, device: str = "cpu",
    settings: ServeSettings | None = None,
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
    from .app import ServeSettings

    settings = settings or ServeSettings()
    models = load_served_models(values, device, settings)
    app = create_app(models, settings)
    print(f"humanparse serve: http://{host}:{port}/ (API under /v1, schema at /v1/openapi.json)", file=sys.stderr)
    # Connections beyond what the queues can hold (and a few for health checks) get uvicorn's 503
    # before their uploads are read, so memory stays bounded however many clients come.
    limit = len(models) * (settings.max_queue + settings.max_batch) + 8
    uvicorn.run(app, host=host, port=port, log_level="info", workers=1, limit_concurrency=limit)
    return 0


__all__ = ["LOCALHOST", "load_served_models", "model_name", "run_server"]
