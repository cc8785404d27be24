"""The README's command-line tools run as written after `source env.sh` (they are installed
where `ros2 run` finds them, install/<package>/lib/<package>/, which env.sh puts on PATH)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gr2_model_up_and_bag_are_on_path_after_sourcing_env_sh():
    out = subprocess.run(["bash", "-c", "source ./env.sh && gr2-model --help && gr2-up --help && gr2-bag --help"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    for usage in ("usage: gr2-model", "usage: gr2-up", "usage: gr2-bag"):
        assert usage in out.stdout
