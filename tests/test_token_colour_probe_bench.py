"""bench/token_colour_probe.py: its classifiers on known data, and a small run end to end."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1", MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
sys.path.insert(0, str(ROOT / "bench"))

from token_colour_probe import confusion, logistic_cv_predict, majority_cv_predict  # noqa: E402


def test_logistic_probe_separates_separable_classes_and_not_noise():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    x = centres[y] + 0.3 * rng.standard_normal((len(y), 2))
    assert (logistic_cv_predict(x, y, 3) == y).mean() > 0.95
    noise = rng.standard_normal((len(y), 2))
    assert (logistic_cv_predict(noise, y, 3) == y).mean() < 0.6


def test_majority_probe_reads_ids_out_of_fold():
    y = np.array([0, 1] * 20)
    assert (majority_cv_predict(y + 10, y, 2) == y).all()          # an id per class: all right
    shared = np.zeros_like(y)                                       # one id for both classes
    assert (majority_cv_predict(shared, y, 2) == y).mean() <= 0.5 + 1e-9


def test_confusion_rows_are_true_classes():
    m = confusion(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_probe_end_to_end(tmp_path):
    """Ten scenes with the shipped tokenizer: every classifier per view in the JSON, and the model
    input's own pixels tell the colours apart (the ceiling the token classifiers are read against)."""
    out = tmp_path / "p.json"
    cmd = [sys.executable, str(ROOT / "bench" / "token_colour_probe.py"), "--vqgan",
           "package://gr2_policy/checkpoints/pick_cube_vqgan", "--seeds", "10", "--out", str(out)]
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "| head_camera | " in r.stdout
    doc = json.loads(out.read_text())
    assert doc["seeds"] == [100000, 100009] and doc["token_grid"] == 8 and "token_colour_probe.py" in doc["command"]
    for view in ("head_camera", "wrist_camera"):
        res = doc["results"][view]
        assert res["objects"] > 30
        for kind in ("input_pixels", "token_vector", "token_id", "token_neighbourhood", "decoded_pixels"):
            assert np.asarray(res[kind]["confusion"]).sum() == res["objects"]
        assert res["input_pixels"]["accuracy"] > 0.5
