"""bench/policy_bench.py --model-level: token layouts side by side, and a clear error for a bad preset."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1")
BENCH = [sys.executable, str(ROOT / "bench" / "policy_bench.py")]


def test_model_level_two_tokenizers_side_by_side(tmp_path):
    out = tmp_path / "m.json"
    r = subprocess.run(BENCH + ["--model-level", "--configs", "tiny", "--vqgan", "tiny,small,small:2",
                                "--train-dtype", "fp32", "--dtypes", "fp32", "--iters", "1", "--out", str(out)],
                       env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    rows = json.loads(out.read_text())["results"]
    assert set(rows) == {"tiny/tiny", "tiny/small", "tiny/small:2"}
    assert rows["tiny/tiny"]["token_grid"] == 4 and rows["tiny/small"]["token_grid"] == 8
    assert rows["tiny/small"]["context_tokens"] > rows["tiny/tiny"]["context_tokens"]
    # 8x8 tokens in 2x2 groups: the context of 4x4 tokens
    assert rows["tiny/small:2"]["token_group"] == 2
    assert rows["tiny/small:2"]["context_tokens"] == rows["tiny/tiny"]["context_tokens"]
    for row in rows.values():
        assert row["train_step_ms_batch4_fp32"] > 0 and row["action_p50_ms_fp32"] > 0


def test_unknown_tokenizer_preset_is_refused():
    r = subprocess.run(BENCH + ["--model-level", "--vqgan", "tiny,nonesuch"], env=ENV, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "nonesuch" in r.stderr and "sim_2048_f4" in r.stderr
    r = subprocess.run(BENCH + ["--vqgan", "tiny,small"], env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "only with --model-level" in r.stderr
    for bad in ("small:x", "small:3"):      # not a number; 3 does not divide the 8x8 grid
        r = subprocess.run(BENCH + ["--model-level", "--vqgan", bad], env=ENV, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 2 and bad in r.stderr
