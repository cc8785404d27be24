"""Graceful degradation of `gr2-up` (issue: control authority and fault recovery): the loss of
the recorder or the policy does not stop the robot part; the loss of the WBC (an essential node, graph.yaml)
shuts the whole graph down. Multi-process: gr2-up starts sim, WBC and policy as real processes
over DDS; the test kills one of them by the PID gr2-up printed."""

from __future__ import annotations

import os
import re
import signal
import sys
import time

from gr2_testing.processes import wait_for


def _pids(log: str) -> dict[str, int]:
    return {name: int(pid) for name, pid in re.findall(r"\[gr2-up\] started (\w+): .* pid (\d+)", log)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:   # a zombie is not alive
        return f.read().split(")")[-1].split()[0] != "Z"


def test_policy_or_recorder_loss_keeps_the_robot_part_and_wbc_loss_stops_the_graph(node_processes, tmp_path):
    up = node_processes.start(["bash", "-c", f"cd {tmp_path} && exec {sys.executable} -m gr2_bringup.up sim:=true "
                               f"record:=true"], name="gr2-up")
    pids = wait_for(lambda: len(_pids(node_processes.output(up))) == 4 and _pids(node_processes.output(up)),
                    60, what="gr2-up to start sim, wbc, policy and the recorder")
    wait_for(lambda: "GR-2 policy ready" in node_processes.output(up), 120, period=0.5, what="the policy node")
    os.kill(pids["recorder"], signal.SIGKILL)        # the recorder dies
    wait_for(lambda: "recorder exited" in node_processes.output(up), 10, what="gr2-up to notice the recorder's exit")
    os.kill(pids["policy"], signal.SIGKILL)          # the policy dies (no clean shutdown)
    wait_for(lambda: "policy exited" in node_processes.output(up), 10, what="gr2-up to notice the policy's exit")
    time.sleep(3.0)
    log = node_processes.output(up)
    assert up.poll() is None, log[-3000:]
    assert _alive(pids["sim"]) and _alive(pids["wbc"]), log[-3000:]
    assert "the rest of the graph runs on" in log

    os.kill(pids["wbc"], signal.SIGKILL)             # an essential node dies: everything stops
    wait_for(lambda: up.poll() is not None, 30, what="gr2-up to shut the graph down")
    log = node_processes.output(up)
    assert up.returncode == 1 and "wbc exited" in log and "shutting the graph down" in log, log[-3000:]
    wait_for(lambda: not _alive(pids["sim"]), 15, what="the sim to be shut down")
