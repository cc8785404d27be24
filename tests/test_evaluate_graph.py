"""`python -m gr2_bringup.evaluate_graph`: closed-loop evaluation through the node graph.

Runs the evaluator as a user would (its own process, which starts sim, WBC and policy once and
stops, resets and resumes between episodes) for 2 episodes with the untrained tiny-sim preset, and
checks what it prints and writes: the summary table, one JSON record per seed, the command, the
checkpoint field; that every episode started with the arm at home (episode independence); and that
no node process outlives it.
Task success is not checked: an untrained policy cannot solve the task.
"""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

from gr2_bringup.evaluate_graph import parse_args
from gr2_drivers.sim.tasks import EVAL_FIRST_SEED

TIMEOUT_S = 6.0
RUN_LIMIT_S = 85.0   # measured ~30 s on 2 busy cores (expert, start-up, 2 x (reset + 6 s))


def test_training_seeds_are_refused_unless_allowed(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--untrained-preset", "tiny-sim", "--first-seed", str(EVAL_FIRST_SEED - 1)])
    assert "EVAL_FIRST_SEED" in capsys.readouterr().err
    cfg = parse_args(["--untrained-preset", "tiny-sim", "--first-seed", "7", "--allow-training-seeds"])
    assert cfg.first_seed == 7
    with pytest.raises(SystemExit):   # a policy must be named: a checkpoint or an untrained preset
        parse_args(["--episodes", "2"])


@pytest.mark.multiprocess
@pytest.mark.slow
def test_two_episodes_through_the_node_graph(tmp_path, node_processes):
    out = tmp_path / "eval.json"
    args = ["--untrained-preset", "tiny-sim", "--task", "pick_cube", "--setting", "simple", "--episodes", "2",
            "--timeout", str(TIMEOUT_S), "--out", str(out), "--log-dir", str(tmp_path / "logs")]
    proc = node_processes.start([sys.executable, "-m", "gr2_bringup.evaluate_graph", *args], name="evaluate_graph")
    code = proc.wait(RUN_LIMIT_S)
    output = node_processes.output(proc)
    assert code == 0, output[-4000:]

    # The table: one row per instruction and one for all of them, with the expert column filled.
    assert "| task | setting | instruction | policy success [95% CI] | expert, same seeds |" in output
    all_row = re.search(r"^\| pick_cube \| simple \| all \| (\d)/2 .*\| (\d)/2 .*\|", output, re.M)
    assert all_row, output[-3000:]

    run = json.loads(out.read_text())["runs"][-1]
    assert run["evaluator"] == "node_graph"
    assert run["command"] == "python -m gr2_bringup.evaluate_graph " + " ".join(args)
    assert run["checkpoint"] == {"untrained_preset": "tiny-sim"}
    settings = run["settings"]
    assert (settings["episodes"], settings["first_seed"], settings["timeout"]) == (2, EVAL_FIRST_SEED, TIMEOUT_S)
    assert settings["untrained_preset"] == "tiny-sim" and settings["expert"] is True

    episodes = run["episodes"]
    assert [e["seed"] for e in episodes] == [EVAL_FIRST_SEED, EVAL_FIRST_SEED + 1]
    for e in episodes:
        assert (e["task"], e["setting"]) == ("pick_cube", "simple")
        assert e["instruction"].startswith("pick up the ") and e["instruction"].endswith(" cube")
        assert isinstance(e["success"], bool) and isinstance(e["expert_success"], bool)
        assert 0.0 <= e["duration_s"] <= TIMEOUT_S and e["chunks"] >= 0
        # Every episode starts with the arm at home (the WBC resumed from the measurement after
        # the sim's reset).
        assert e["extra"]["start_joint_error_rad"] < 1e-3, e

    rows = run["summary"]
    by_instruction = {r["instruction"]: r for r in rows}
    assert set(by_instruction) == {e["instruction"] for e in episodes} | {"all"}
    assert by_instruction["all"]["policy"]["episodes"] == 2 and by_instruction["all"]["expert"]["episodes"] == 2
    assert int(all_row.group(1)) == by_instruction["all"]["policy"]["successes"]

    # Every node process the evaluator started (it logs their PIDs) is gone.
    logs = list((tmp_path / "logs").glob("nodes_*.log"))
    pids = [int(p) for p in re.findall(r"\[gr2-up\] started \w+: .* pid (\d+)", logs[0].read_text())]
    assert len(pids) == 3, pids   # sim, WBC, policy
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
