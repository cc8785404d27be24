"""bench/clip_prediction.py end to end: a tiny model with its own VQGAN, a cache of synthetic
two-view clips, the JSON and table format; a robot cache is refused."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_bench_script_on_a_tiny_model(tmp_path):
    from gr2_policy.checkpoint import save_policy, save_vqgan
    from gr2_policy.config import get_config
    from gr2_policy.data import write_video
    from gr2_policy.model import GR2
    from gr2_policy.text_encoder import load_text_encoder
    from gr2_policy.token_cache import build_cache, vqgan_fingerprint
    sys.path.insert(0, str(ROOT / "bench"))
    import clip_prediction

    torch.manual_seed(0)
    cfg = get_config("tiny")
    model = GR2(cfg)
    save_vqgan(tmp_path / "vq", model.vqgan.eval())
    save_policy(tmp_path / "ckpt", model, load_text_encoder(cfg.text).identity,
                extra={"vqgan_fingerprint": vqgan_fingerprint(tmp_path / "vq")})
    clips = tmp_path / "clips"
    clips.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        for view in cfg.views:
            write_video(clips / f"c{i}.{view}.mp4", rng.integers(0, 255, (6, 48, 48, 3), dtype=np.uint8))
        (clips / f"c{i}.txt").write_text("open the drawer")
    build_cache(None, tmp_path / "vq", tmp_path / "vt", views=tuple(cfg.views), video_dirs=[clips], batch=8)
    out = tmp_path / "clip_prediction.json"
    assert clip_prediction.main(["--tokens", str(tmp_path / "vt"), "--checkpoints", str(tmp_path / "ckpt"),
                                 "--holdout", "0.5", "--batches", "2", "--batch", "3", "--out", str(out)]) == 0
    row = json.loads(out.read_text())["rows"][0]
    assert row["held_out_clips"] == 2 and row["windows"] == 6
    for m in row["views"].values():
        # an untrained model: about uniform over the codebook
        assert abs(m["cross_entropy"] - np.log(cfg.vqgan.codebook_size)) < 1.5
        assert 0 <= m["token_accuracy"] <= 1 and 0 <= m["copy_last_accuracy"] <= 1


def test_a_robot_cache_is_refused(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    import clip_prediction
    (tmp_path / "rc").mkdir()
    (tmp_path / "rc" / "meta.json").write_text(json.dumps({"format": "gr2-token-cache/1", "variants": 1,
                                                           "episodes": [], "views": []}))
    np.save(tmp_path / "rc" / "tokens.npy", np.zeros((0, 1, 1, 1), np.uint16))
    for k in ("ee_pose", "gripper", "action_ee_pose", "action_gripper", "text"):
        np.save(tmp_path / "rc" / f"{k}.npy", np.zeros(0, np.float32))
    with pytest.raises(SystemExit, match="robot cache"):
        clip_prediction.measure("unused", str(tmp_path / "rc"), 0.5, 1, 1, 0)
