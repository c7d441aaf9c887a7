"""Every benchmark script runs end to end at its ``--smoke`` sizes and writes its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO

ABLATION_KEYS = ["settings", "machine", "protocol", "rows"]

# script -> the top-level keys of the JSON it writes, the results last
SCRIPTS = {
    "speed/synth_speed.py": ["benchmark", "threads", "machine", "results"],
    "speed/throughput.py": ["machine", "models", "loader"],
    "speed/predict_memory.py": ["settings", "machine", "rows"],
    "speed/input_sizes.py": ["config", "cpu_threads", "rows"],
    "speed/priors.py": ["settings", "machine", "data", "rows"],
    "speed/serve.py": ["settings", "machine", "protocol", "rows"],
    "ablations/jppnet.py": ["settings", "machine", "protocol", "parsing_phase1", "rows"],
    "ablations/structure_loss.py": ABLATION_KEYS,
    "ablations/ssnan.py": ABLATION_KEYS,
    "ablations/pil.py": ["settings", "machine", "protocol", "synth", "cost"],
    "ablations/hipn.py": ABLATION_KEYS,
    "ablations/wshp.py": ABLATION_KEYS,
}


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_smoke_run(script: str, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    paths = [str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    # From another working directory: a script must not depend on it.
    run = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--smoke", "--out", str(out)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)}, capture_output=True, text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert list(payload) == SCRIPTS[script]
    assert payload[SCRIPTS[script][-1]]
