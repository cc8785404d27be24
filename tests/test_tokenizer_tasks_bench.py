"""bench/tokenizer_tasks.py end to end: two tokenizers side by side on one held-out episode of one task."""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1", MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))


def test_two_tokenizers_side_by_side(tmp_path):
    """The shipped tokenizer and an untrained one of the same preset: one row per task, view and
    tokenizer; the trained one reconstructs better (an untrained decoder is far from the frame)."""
    from gr2_policy.checkpoint import load_vqgan, save_vqgan
    from gr2_policy.vqgan import VQGAN
    shipped, _ = load_vqgan("package://gr2_policy/checkpoints/pick_cube_vqgan")
    torch.manual_seed(0)
    save_vqgan(tmp_path / "untrained", VQGAN(shipped.config), {"step": 0})
    out = tmp_path / "t.json"
    cmd = [sys.executable, str(ROOT / "bench" / "tokenizer_tasks.py"), "--vqgan",
           "package://gr2_policy/checkpoints/pick_cube_vqgan", str(tmp_path / "untrained"),
           "--tasks", "press_button", "--episodes", "1", "--fps", "2", "--out", str(out)]
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "| press_button | head_camera | " in r.stdout
    doc = json.loads(out.read_text())
    assert doc["first_seed"] == 100000 and "tokenizer_tasks.py" in doc["command"]
    rows = {(x["view"], x["vqgan"]): x for x in doc["rows"]}
    assert len(rows) == 4 and all(x["task"] == "press_button" and x["episodes"] == 1 for x in rows.values())
    for view in ("head_camera", "wrist_camera"):
        trained = rows[(view, "package://gr2_policy/checkpoints/pick_cube_vqgan")]["psnr_db"]
        assert trained > rows[(view, str(tmp_path / "untrained"))]["psnr_db"] + 3
