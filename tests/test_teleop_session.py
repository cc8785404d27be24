"""Recording session end to end: `python -m gr2_bringup.teleop.collect` (sim + WBC as processes,
teleop node and episode recorder in the foreground) driven by a gamepad test double for 3 episodes,
then `gr2-bag to-dataset` of the 3 bags with idle trimming, then a few steps of the README's
fine-tuning command from the shipped checkpoint on the result."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from gr2_bringup.bag.cli import main as bag_main
from gr2_bringup.teleop.mapping import DeviceMapping, DeviceState, TeleopMapper
from gr2_bringup.teleop.session import EpisodeMarks
from gr2_testing.joystick_double import JoystickDouble
from gr2_testing.processes import wait_for

RIGHT_Y, ENABLE, GRIPPER, START, SUCCESS, FAILURE = 4, 5, 0, 7, 3, 1


def test_mapping_deadband_scaling_and_button_edges():
    m = TeleopMapper(DeviceMapping(axes=[1, -1, 0, -1, -1, -1], signs=[-1.0, 1, 1, 1, 1, 1], linear_scale=0.1,
                                   deadband=0.2, enable_button=2, gripper_button=0, start_button=1))
    out = m(DeviceState((0.1, -1.0), (False, False, True)))
    assert out.twist[0] == pytest.approx(0.1) and out.twist[2] == 0.0      # 0.1 is inside the deadband
    assert m(DeviceState((0.6, 0.0), (False, False, True))).twist[2] == pytest.approx(0.05)
    assert not m(DeviceState((0.6, -1.0), (False, False, False))).twist.any()   # enable released
    first = m(DeviceState((), (True, True, True)))
    assert first.gripper == 1.0 and first.events == ["start"]
    held = m(DeviceState((), (True, True, True)))
    assert held.gripper is None and held.events == []                     # acts on the press only


def test_a_click_released_before_the_poll_still_acts(tmp_path):
    """The gamepad's events are folded into one state per poll: a press and its release both
    between two polls (a quick tap, or a starved node) must still toggle the gripper once."""
    from gr2_bringup.teleop.devices import Gamepad
    pad = JoystickDouble(tmp_path / "js")
    device = Gamepad(str(pad.path))
    try:
        m = TeleopMapper(DeviceMapping(gripper_button=GRIPPER, control_button=START))
        assert m(device.poll()).gripper is None
        pad.button(GRIPPER, True)
        pad.button(GRIPPER, False)
        pad.button(START, True)
        pad.button(START, False)
        state = device.poll()
        assert not any(state.buttons) and state.pressed[GRIPPER] and state.pressed[START]
        out = m(state)
        assert out.gripper == 1.0 and out.events == ["control"]
        assert m(device.poll()).gripper is None                    # reported once
        pad.button(GRIPPER, True)                                  # held across polls: one press
        assert m(device.poll()).gripper == 0.0 and m(device.poll()).gripper is None
    finally:
        device.close()
        pad.close()


def test_episode_marks():
    marks = EpisodeMarks()
    assert marks.on_event("success") is None
    assert marks.on_event("start") == ("begin", 0) and marks.on_event("start") is None
    assert marks.on_event("failure") == ("failure", 0)
    assert marks.on_event("start") == ("begin", 1)


@pytest.mark.multiprocess
@pytest.mark.slow
def test_three_teleoperated_episodes_to_a_dataset(node_processes, tmp_path):
    pad = JoystickDouble(tmp_path / "js_double")
    out = tmp_path / "demos"
    collect = node_processes.start([sys.executable, "-m", "gr2_bringup.teleop.collect", "--instruction",
                                    "pick up the red cube", "--device", "gamepad", "--device-path", str(pad.path),
                                    "--out", str(out), "--episodes", "3"], name="collect")
    try:
        wait_for(lambda: node_processes.assert_running() or "the operator has control" in
                 node_processes.output(collect), 120, what="the operator in control")
        for episode in range(3):
            pad.click(START)
            try:
                wait_for(lambda e=episode: (out / f"episode_{e:03d}").exists(), 30, what=f"episode {episode} bag")
            except TimeoutError as err:   # what the session and the nodes said tells which step was lost
                raise AssertionError(f"{err}; collect's output:\n{node_processes.output(collect)[-6000:]}") from err
            time.sleep(1.5)                          # idle: the operator reaches for the stick
            pad.button(ENABLE, True)
            pad.axis(RIGHT_Y, 1.0)                   # down
            time.sleep(1.0)
            pad.axis(RIGHT_Y, 0.0)
            pad.click(GRIPPER)
            time.sleep(0.3)
            pad.axis(RIGHT_Y, -1.0)                  # up
            time.sleep(1.0)
            pad.axis(RIGHT_Y, 0.0)
            pad.button(ENABLE, False)
            time.sleep(1.5)                          # idle again before the mark
            pad.click(FAILURE if episode == 1 else SUCCESS)
            time.sleep(1.0)
        assert collect.wait(60) == 0, node_processes.output(collect)[-3000:]
    finally:
        pad.close()
    bags = sorted(out.glob("episode_*"))
    assert len(bags) == 3
    data = tmp_path / "data"
    assert bag_main(["to-dataset", *map(str, bags), str(data), "--trim-idle", "0.002"]) == 0
    rows = [json.loads(line) for line in (data / "index.jsonl").read_text().splitlines()]
    assert [r["instruction"] for r in rows] == ["pick up the red cube"] * 3
    assert [r["success"] for r in rows] == [True, False, True]
    untrimmed = tmp_path / "untrimmed"
    assert bag_main(["to-dataset", str(bags[0]), str(untrimmed)]) == 0
    full = json.loads((untrimmed / "index.jsonl").read_text().splitlines()[0])["frames"]
    print(f"3 teleoperated episodes: frames {[r['frames'] for r in rows]} after idle trimming "
          f"(episode 0: {full} untrimmed)")
    assert full - rows[0]["frames"] >= 15         # ~3 s of idle at 10 Hz dropped
    assert rows[0]["frames"] >= 15                # ~2 s of motion kept
    # the README's fine-tuning command (500 steps there), from the shipped policy
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "gr2_policy.train", "finetune", "--episodes", str(data), "--init",
                        "package://gr2_policy/checkpoints/pick_cube", "--out", str(run), "--steps", "2",
                        "--batch", "2", "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert '"step": 2' in r.stdout and (run / "ckpt" / "model.safetensors").is_file()
