"""bench/video_prediction.py end to end on a tiny untrained model and two synthetic episodes."""
import json
import sys
from pathlib import Path

import numpy as np
import torch

from gr2_policy.config import get_config
from gr2_policy.model import GR2

ROOT = Path(__file__).resolve().parents[1]


def test_bench_script_on_a_tiny_model(tmp_path):
    """bench/video_prediction.py end to end in seconds: a tiny untrained model saved as a checkpoint,
    two 5-frame *.npz episodes read with --episodes-dir."""
    from gr2_policy.checkpoint import save_policy
    from gr2_policy.data import Episode, write_npz_episode
    from gr2_policy.text_encoder import load_text_encoder
    torch.manual_seed(0)
    cfg = get_config("tiny")
    save_policy(tmp_path / "ckpt", GR2(cfg), load_text_encoder(cfg.text).identity)
    rng = np.random.default_rng(0)
    r, T = cfg.vqgan.resolution, 5
    (tmp_path / "eps").mkdir()
    for i in range(2):
        write_npz_episode(tmp_path / "eps" / f"{i}.npz", Episode(
            instruction="pick up the red cube",
            frames={v: rng.integers(0, 255, (T, r, r, 3), dtype=np.uint8) for v in cfg.views},
            ee_position=np.tile([0.4, 0.0, 0.3], (T, 1)).astype(np.float32),
            ee_quaternion=np.tile([0.0, 0.0, 0.0, 1.0], (T, 1)).astype(np.float32),
            gripper_closure=np.zeros(T, np.float32), gripper_command=np.zeros(T, np.float32)))
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import video_prediction
    finally:
        sys.path.remove(str(ROOT / "bench"))
    out, png = tmp_path / "vp.json", tmp_path / "vp.png"
    assert video_prediction.main(["--checkpoint", str(tmp_path / "ckpt"), "--episodes-dir", str(tmp_path / "eps"),
                                  "--episodes", "2", "--horizon", "2", "--starts-every", "1",
                                  "--picture-frames", "3", "--out", str(out), "--png", str(png)]) == 0
    doc = json.loads(out.read_text())
    assert doc["episodes_evaluated"] == 2 and png.stat().st_size > 0
    assert doc["command"].startswith("python bench/video_prediction.py --checkpoint")
    for view in cfg.views:
        s = doc["summary"][view]
        assert s["token_acc_copy_last"]["n"] == 2 and 0 <= s["token_acc_generated"]["mean"] <= 1
        assert s["psnr_vs_real_vqgan_ceiling"]["mean"] > 0
        assert len(s["open_loop"]["psnr_vs_real"]) == 2
    assert list(doc["summary_per_task"]) == list(doc["summary_per_setting"]) == ["-"]   # folder episodes: neither


def test_per_task_summary_groups_the_rows_of_each_task():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import video_prediction
    finally:
        sys.path.remove(str(ROOT / "bench"))
    keys = {k for pair in video_prediction.PAIRS for k in pair}
    def row(task, acc):
        return {"task": task, "views": {"head_camera": {**dict.fromkeys(keys, 20.0), "token_acc_copy_last": acc}}}
    rows = [row("pick_cube", 0.5), row("open_drawer", 0.9), row("pick_cube", 0.7)]
    per_task = video_prediction.summarise_by(rows, "task", ("head_camera",), horizon=2)
    assert list(per_task) == ["pick_cube", "open_drawer"]
    assert per_task["pick_cube"]["head_camera"]["token_acc_copy_last"]["n"] == 2
    assert abs(per_task["pick_cube"]["head_camera"]["token_acc_copy_last"]["mean"] - 0.6) < 1e-9
    assert per_task["open_drawer"]["head_camera"]["token_acc_copy_last"]["mean"] == 0.9
