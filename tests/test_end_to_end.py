"""The whole stack as separate processes over DDS: sim, WBC, policy and the bag recorder, started
from config/graph.yaml the way `make demo` does, with the instruction sent from this process.

The policy is an untrained preset, so what is checked is the chain, not task success: the
instruction leads to action chunks, joint commands that come from those chunks (traced by
JointCommand.chunk_stamp), arm motion in the sim, a recorded bag that holds the policy's
predicted frames as well as the cameras' (the demo's frames image is drawn from them), and a
clean shutdown of every process, within the time stated below.
"""

from __future__ import annotations

import pytest

import gr2_contract as c
from gr2_bringup.bag.reader import read_info
from gr2_bringup.demo import DemoConfig, run_demo

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]
EPISODE_S = 20.0   # instruction -> chunks, commands and motion must all happen within this


def test_instruction_moves_the_simulated_arm_through_policy_and_wbc(tmp_path):
    out, report = run_demo(DemoConfig(task="pick_cube", duration=EPISODE_S, untrained_preset="tiny",
                                      predict_frames_every=3, out=tmp_path, stop_on_success=False))
    assert all(p["exit_code"] == 0 for p in report["processes"].values()), report["processes"]
    assert report["policy"]["chunks"] >= 5, report["policy"]
    assert "UNTRAINED" in report["policy"]["last_status"]
    lat = report["latency"]
    assert lat["chunks_traced_to_a_command"] >= 1, lat   # a joint command carried a chunk's stamp
    assert report["robot"]["ee_path_length_m"] > 0.002, report["robot"]
    assert report["wbc"]["cycle_rate_hz"] > 150, report["wbc"]          # 200 Hz, counted by the WBC
    assert report["topic_rates_hz"]["/gr2/joint_command"] > 50, report["topic_rates_hz"]   # as recorded
    assert (out / "report.md").exists() and (out / "frames.png").exists()
    recorded = read_info(out / "bag").counts()   # the session was recorded (record:=true path)
    assert recorded.get("/gr2/action_chunk", 0) >= 1 and recorded.get("/gr2/joint_command", 0) > 100, recorded
    assert all(recorded.get(c.PREDICTED_IMAGE[cam], 0) >= 1 for cam in c.CAMERAS), recorded   # issue example: 0
