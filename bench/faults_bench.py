"""Fault-injection benchmark (`make bench-faults`): faults against the real node graph, every
command recorded, each judged against the robot's limits.

    python bench/faults_bench.py                      # the full run -> bench/results/faults.json
    python bench/faults_bench.py --stop-trials 2 --load-s 5 --out /tmp/faults.json   # shortened

The graph is the one `gr2-up sim:=true` starts (config/graph.yaml: sim, WBC, the default policy
checkpoint), in a private ROS graph (random ROS_DOMAIN_ID, localhost discovery), the sim laying
out pick_cube and instructing the layout's own task (what the sim's reset answers, unless
--instruction names another). This process records /gr2/joint_command (reliable, every message),
/joint_states, /gr2/wbc/status and /gr2/action_chunk (`--trace` saves them), and injects, in this
order:

  stop          instruction, wait for motion, /gr2/stop; the policy keeps running. Per trial.
  bad_chunks    NaN, inf, empty, oversized, future, past and backwards-sequence chunks while the
                WBC accepts chunks: each must be refused (counted) and none may move the arm.
  bad_input     an instruction longer than the text encoder takes: refused on /gr2/policy/status,
                the previous task ends.
  load          a task running while 3 busy processes load the CPU for --load-s seconds.
  policy_kill   SIGKILL of the policy while moving; a restarted policy's chunks accepted again.
  recorder_kill SIGKILL of the recorder (`record:=true`'s) during a task: the task runs on, and
                `gr2-bag recover` turns the killed bag into a finished one; data lost = the time
                between the last recovered message and the kill.
  sim_kill      SIGKILL of the sim while moving, restarted 1 s later.

Time is judged on the header stamps the nodes write (the WBC's command stamps and the driver's
joint-state stamps, on this host's clock), never on when this process heard a message: it runs
at normal priority beside real-time nodes and a CPU-bound policy, and hears the streams up to
seconds late. Events (a stop call, a kill) are taken on the same clock, a row is judged only
once the commands stamped to its end have been heard, and each stop or kill row gives the
commanded speed at the event (`speed_at_event`, rad/s): on 2 cores the policy moves the arm in
bursts, and a row struck between them shows it.

Per row: peak commanded joint velocity and acceleration and the largest one-cycle position step,
each as a ratio of the limit (URDF velocity, config/wbc.yaml acceleration; a step = velocity
limit x one control period; after a gap in the stream, the step from the previous command, or
from the measured position where the arm is farther than the WBC's resync threshold from that
command: reset or restarted); halt time; whether the arm moved without authority
(commanded speed after it came to rest, or measured speed after a driver restart, with no new
instruction); false FAULTs; refusals counted. A row passes when every ratio <= 1 + tolerance and
nothing moved without authority.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 0.02          # ratios up to 1.02 pass: one 5 ms cycle of float rounding and re-integration
AT_REST = 1e-3            # rad/s: a commanded speed below this is "at rest"
MEASURED_MOTION = 0.05    # rad/s: measured speed that counts as motion (servo noise is far below)


def now() -> float:
    """The nodes' clock (ROS system time, seconds): events are compared with header stamps."""
    return time.time()


@dataclass
class Recorder:
    """What this process hears on the graph: each message with its arrival (time.monotonic) and
    its header stamp (`now()`'s clock). Filled by callbacks that run in this process's only thread
    (`Bench.pause`)."""
    commands: list[tuple[float, float, np.ndarray, np.ndarray]] = field(default_factory=list)   # (t, stamp, q, qd)
    positions: list[tuple[float, float, np.ndarray, np.ndarray]] = field(default_factory=list)  # (t, stamp, q, qd)
    status: list[tuple[float, object]] = field(default_factory=list)
    policy_status: list[tuple[float, object]] = field(default_factory=list)
    chunk_stamps: list[float] = field(default_factory=list)   # each policy chunk's observation stamp

    def commands_between(self, t0: float, t1: float):
        """(stamps, q, qd) of the commands stamped in [t0, t1]."""
        rows = [c for c in self.commands if t0 <= c[1] <= t1]
        if not rows:
            return np.zeros(0), np.zeros((0, 7)), np.zeros((0, 7))
        return (np.array([r[1] for r in rows]), np.array([r[2] for r in rows]), np.array([r[3] for r in rows]))

    def measured_at_resume(self, paused: float, resumed: float,
                           fresh: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The arm's measured position when a command stream paused at header time `paused`
        resumed with a command computed at `resumed`. The WBC resumes only from a measurement
        stamped at most `fresh` s (its joint_state_fault_timeout) before it computes: the latest
        state stamped in (paused, resumed] within that window is the one it used. When this process
        heard none there (it discovers a restarted driver later than the WBC, by seconds on a
        loaded machine, and a dying driver's last states are stamped near the pause), the earliest
        state stamped after `resumed` stands for it: the restarted arm, before the resumed commands
        could move it (motion after the restart is the scenario's own measured check). Stamps,
        not arrival order, decide. Returns its (position, velocity), None when no state is stamped
        after the pause."""
        later = sorted(((s, q, qd) for _, s, q, qd in self.positions if s > paused), key=lambda r: r[0])
        used = [r for r in later if resumed - fresh <= r[0] <= resumed]
        if used:
            return used[-1][1:]
        after = [r for r in later if r[0] > resumed]
        return after[0][1:] if after else None

    def measured_speed_between(self, t0: float, t1: float) -> float:
        """Peak measured joint speed of the states stamped in [t0, t1], rad/s."""
        v = [np.abs(qd).max() for _, s, _, qd in self.positions if t0 <= s <= t1]
        return float(max(v)) if v else 0.0

    def speed_at(self, t: float) -> float:
        """Peak joint speed of the last command stamped at or before `t`, rad/s (how fast the
        arm was commanded when an event struck)."""
        before = [qd for _, s, _, qd in self.commands if s <= t]
        return float(np.abs(before[-1]).max()) if before else 0.0

    def chunks_after(self, t: float) -> int:
        """How many chunks heard were predicted from observations stamped after `t` (so published
        after it; a chunk heard late but predicted before does not count)."""
        return sum(1 for s in self.chunk_stamps if s > t)

    def heard_until(self, t: float) -> bool:
        """Whether a command stamped at or after `t` has been heard (the stream is in up to t)."""
        return bool(self.commands) and self.commands[-1][1] >= t

    def state_stamped_after(self, t: float) -> float | None:
        """The stamp of the first joint state heard stamped after `t`, else None."""
        later = [s for _, s, _, _ in self.positions if s > t]
        return min(later) if later else None

    def commanded_speed(self, fresh: float = 0.25) -> float:
        """Peak joint speed of the last command heard, rad/s; 0 unless it is stamped within
        `fresh` s of now (a late-heard command says how the arm moved, not how it moves)."""
        if not self.commands or now() - self.commands[-1][1] > fresh:
            return 0.0
        return float(np.abs(self.commands[-1][3]).max())

    def modes_between(self, t0: float, t1: float) -> list[int]:
        """WBC modes of the statuses stamped in [t0, t1], in stamp order."""
        import gr2_contract as c
        stamped = sorted(((c.stamp_seconds(m.header.stamp), m.mode) for _, m in self.status), key=lambda r: r[0])
        return [mode for stamp, mode in stamped if t0 <= stamp <= t1]

    def save(self, path: Path, rows: list[dict]) -> None:
        """Everything heard, for inspecting a failed row (`--trace`): arrays keyed by stream, times
        in time.monotonic() of arrival and header stamps in seconds (`now()`'s clock, as is each row's
        judged window)."""
        cmd, pos = self.commands, self.positions
        np.savez_compressed(
            path,
            command_arrival=np.array([c[0] for c in cmd]), command_stamp=np.array([c[1] for c in cmd]),
            command_q=np.array([c[2] for c in cmd]).reshape(-1, 7),
            command_qd=np.array([c[3] for c in cmd]).reshape(-1, 7),
            state_arrival=np.array([p[0] for p in pos]), state_stamp=np.array([p[1] for p in pos]),
            state_q=np.array([p[2] for p in pos]).reshape(-1, 7),
            state_qd=np.array([p[3] for p in pos]).reshape(-1, 7),
            status_arrival=np.array([t for t, _ in self.status]),
            status_mode=np.array([m.mode for _, m in self.status]),
            status_message=np.array([m.message for _, m in self.status]),
            policy_arrival=np.array([t for t, _ in self.policy_status]),
            policy_state=np.array([m.state for _, m in self.policy_status]),
            policy_latency=np.array([m.last_latency for _, m in self.policy_status]),
            policy_observation_age=np.array([m.observation_age for _, m in self.policy_status]),
            row_fault=np.array([r["fault"] for r in rows]),
            row_window=np.array([r["window"] for r in rows]).reshape(-1, 2),
            wall_minus_monotonic=now() - time.monotonic())

    def running_since(self, n: int) -> bool:
        """Whether a /gr2/policy/status after the first `n` heard says the policy runs a task."""
        return any(s.state == s.STATE_RUNNING for _, s in self.policy_status[n:])


def bag_holds(bag: Path, topic: str) -> bool:
    """Whether the bag being recorded at `bag` already holds a message of `topic` in a flushed chunk."""
    import warnings

    from gr2_bringup.bag.reader import read_messages
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # a bag being written reads as a killed one
            return any(True for _ in read_messages(bag, [topic]))
    except (KeyError, OSError, ValueError):          # the topic or the first chunk not written yet
        return False


class Bench:
    def __init__(self, args):
        import rclpy
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import JointState
        from std_msgs.msg import String
        from std_srvs.srv import Trigger

        import gr2_contract as c
        from gr2_bringup.graph import resolve_graph
        from gr2_bringup.up import command
        from gr2_contract.node_main import make_executor
        from gr2_msgs.msg import ActionChunk, JointCommand, PolicyStatus, WbcStatus
        from gr2_wbc.config import load_controller_config
        from gr2_wbc.robot_model import RobotModel

        self.args = args
        self.instruction = args.instruction      # None: the layout's own, from the sim's reset
        wbc_cfg = load_controller_config()
        robot = self.robot = RobotModel.load(wbc_cfg.model)
        self.vel_limit, self.acc_limit = robot.velocity_limit, robot.acceleration_limit
        self.resync_threshold = wbc_cfg.resync_threshold
        self.state_timeout = wbc_cfg.joint_state_fault_timeout
        self.joint_names = list(c.ARM_JOINTS)
        self.specs = {s.name: s for s in resolve_graph({"sim": "true"})}
        self.specs["sim"].parameters.update(task="pick_cube", setting="simple", seed=str(args.seed))
        self.commands = {name: command(spec) for name, spec in self.specs.items()}
        self.procs: dict[str, subprocess.Popen] = {}
        self.log = open(args.log, "w")
        self.rec = Recorder()
        self.rows: list[dict] = []
        self.expected_alive: set[str] = set()

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("gr2_faults_bench", context=self.context)
        n, rec = self.node, self.rec
        reliable = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        # the streams judged: a backlog of this process must delay them, not drop them (60 s deep)
        every_command = QoSProfile(depth=12000, reliability=ReliabilityPolicy.RELIABLE)
        states = QoSProfile(depth=15000, reliability=ReliabilityPolicy.BEST_EFFORT)

        def on_command(m):
            rec.commands.append((time.monotonic(), c.stamp_seconds(m.header.stamp),
                                 np.array(m.position), np.array(m.velocity)))

        def on_joint_state(m):
            if len(m.velocity) >= 7:
                rec.positions.append((time.monotonic(), c.stamp_seconds(m.header.stamp),
                                      np.array(m.position[:7]), np.array(m.velocity[:7])))

        def on_chunk(m):
            if m.instruction:              # the policy's; bad_chunks' own (one stamped 5 s ahead) name none
                rec.chunk_stamps.append(c.stamp_seconds(m.header.stamp))

        n.create_subscription(JointCommand, c.JOINT_COMMAND, on_command, every_command)
        n.create_subscription(JointState, c.JOINT_STATES, on_joint_state, states)
        n.create_subscription(WbcStatus, c.WBC_STATUS, lambda m: rec.status.append((time.monotonic(), m)),
                              c.latched_qos())
        n.create_subscription(PolicyStatus, c.POLICY_STATUS, lambda m: rec.policy_status.append((time.monotonic(), m)),
                              reliable)
        n.create_subscription(ActionChunk, c.ACTION_CHUNK, on_chunk, reliable)
        self.instruction_pub = n.create_publisher(String, c.INSTRUCTION, reliable)
        self.chunk_pub = n.create_publisher(ActionChunk, c.ACTION_CHUNK, reliable)
        self.stop_client = n.create_client(Trigger, c.STOP_SERVICE)
        self.resume_client = n.create_client(Trigger, c.RESUME_SERVICE)
        self.reset_client = n.create_client(Trigger, c.SIM_RESET)
        self.period = wbc_cfg.period
        self._String, self._Trigger, self._ActionChunk = String, Trigger, ActionChunk
        # The nodes' executor (a C++ event queue), spun by this thread whenever it waits (`pause`):
        # ~450 messages/s cost it 23% of a core against SingleThreadedExecutor's 42% in a spin
        # thread, which, beside the policy on 2 cores, fell seconds behind the streams and took
        # the CPU the policy (nice 10) needed. Not in a second thread: EventsExecutor.spin there
        # starved this one.
        self.executor = make_executor(self.context)
        self.executor.add_node(n)

    # ---- processes -------------------------------------------------------------------------
    def start(self, name: str) -> None:
        self.procs[name] = subprocess.Popen(self.commands[name], stdout=self.log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def kill(self, name: str, sig=signal.SIGKILL) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def close(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGINT)
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()
        self.log.close()

    # ---- helpers ---------------------------------------------------------------------------
    def pause(self, seconds: float) -> None:
        """Let `seconds` pass while hearing the graph."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.executor.spin_once(timeout_sec=min(left, 0.02))

    def wait(self, predicate, timeout: float, what: str, poll: float = 0.02):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            for name, proc in self.procs.items():
                if proc.poll() is not None and name in self.expected_alive:
                    raise RuntimeError(f"{name} exited with {proc.returncode} (log: {self.args.log})")
            self.pause(poll)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")

    def call(self, client, timeout: float = 10.0):
        self.wait(client.service_is_ready, timeout, f"service {client.srv_name}")
        future = client.call_async(self._Trigger.Request())
        self.wait(future.done, timeout, f"answer of {client.srv_name}")
        return future.result()

    def instruct(self, text: str) -> None:
        self.instruction_pub.publish(self._String(data=text))

    def wbc_mode(self) -> int | None:
        return self.rec.status[-1][1].mode if self.rec.status else None

    def reset_scene(self) -> None:
        """Idle the policy, halt the WBC, lay the task out again (arm at home) and give chunks
        authority: the WBC resumes from the measured home (evaluate_graph's stop, reset, resume)."""
        self.instruct("")
        self.call(self.stop_client)
        self.wait(lambda: self.wbc_mode() == 5, 10.0, "the WBC to stop")   # STOPPED
        response = self.call(self.reset_client, 30.0)
        if self.args.instruction is None:
            self.instruction = response.message
        self.pause(0.5)
        self.call(self.resume_client)

    def wait_moving(self, timeout: float = 30.0) -> None:
        """Until the arm is commanded to move now (`speed_at_event` in a row says how fast it was)."""
        self.wait(lambda: self.rec.commanded_speed() > 0.05, timeout, "the policy to move the arm")

    def limits_row(self, name: str, t0: float, t1: float, event: float | None = None, **extra) -> dict:
        """`judge` the commands stamped in [t0, t1] once all of them have been heard (a judgement on
        part of the stream would be silently wrong: the row fails when they never are); with the
        commanded speed at `event` (the stop or kill) when given."""
        with contextlib.suppress(TimeoutError):
            self.wait(lambda: self.rec.heard_until(t1), 30.0, "the commands stamped up to the row's end")
        heard = self.rec.heard_until(t1)
        if event is not None:
            extra["speed_at_event"] = self.rec.speed_at(event)
        return self.judge(name, t0, t1, **{**extra, "stream_heard": heard, "ok": extra.get("ok", True) and heard})

    def judge(self, name: str, t0: float, t1: float, **extra) -> dict:
        """Velocity, acceleration and position-step ratios of the commands stamped in [t0, t1].

        Consecutive commands are one control period apart by definition (the arm's driver takes
        each as the next cycle's target), so differences are divided by the nominal period: a
        stream that pauses and resumes with a jump shows as a step, not as slow motion.
        """
        stamps, q, qd = self.rec.commands_between(t0, t1)
        row = {"fault": name, "window": [t0, t1], "commands": int(len(stamps))}
        if len(stamps) >= 2:
            dt = self.period
            step = np.abs(np.diff(q, axis=0))
            # After a gap in the stream the servo target is still the previous command (the sim and
            # the arm's driver hold it) and the arm is near it: a moving arm's measured position
            # lags by its tracking error, so that command is the reference. Where the arm is
            # farther from it than the WBC's resync threshold, the arm was reset or its driver
            # restarted, and the step that matters is from the position measured when the WBC
            # computed the resumed command (one period before its stamp).
            # The same holds for the velocity: a reset or restarted arm is at its measured velocity
            # (at rest), not at the last command's. A resynchronisation without a gap (the sim reset
            # while the WBC ran on) is judged the same way: any step beyond one period's motion.
            dqd = np.abs(np.diff(qd, axis=0))
            over = (step > self.vel_limit * dt * (1.0 + TOLERANCE)).any(axis=1)
            gap = np.diff(stamps) > 3 * dt
            for i in np.flatnonzero(gap | over):
                resumed = stamps[i + 1] - dt
                # without a gap, the state that showed the WBC the arm elsewhere may predate the
                # previous command: any state fresh enough for it to use counts
                paused = stamps[i] if gap[i] else resumed - self.state_timeout
                measured = self.rec.measured_at_resume(paused, resumed, self.state_timeout)
                if measured is not None and np.abs(measured[0] - q[i]).max() > self.resync_threshold:
                    step[i] = np.abs(q[i + 1] - measured[0])
                    dqd[i] = np.abs(qd[i + 1] - measured[1])
            row["velocity_ratio"] = float((np.abs(qd) / self.vel_limit).max())
            row["acceleration_ratio"] = float((dqd / dt / self.acc_limit).max())
            row["position_step_ratio"] = float((step / (self.vel_limit * dt)).max())
            row["max_command_gap_s"] = float(np.diff(stamps).max())
        row.update(extra)
        ratios = [row.get(k, 0.0) for k in ("velocity_ratio", "acceleration_ratio", "position_step_ratio")]
        row["passed"] = bool(max(ratios) <= 1.0 + TOLERANCE and not row.get("moved_without_authority", False)
                             and row.get("ok", True))
        self.rows.append(row)
        flag = "PASS" if row["passed"] else "FAIL"
        shown = {k: v for k, v in row.items() if k not in ("fault", "passed", "window")}
        print(f"[faults] {flag} {name}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                                      for k, v in shown.items()), flush=True)
        return row

    def halt_metrics(self, t_event: float, t_end: float) -> dict:
        """Time from `t_event` to the first command stamped at rest, and any commanded motion
        after that rest (`now()`'s clock)."""
        with contextlib.suppress(TimeoutError):
            self.wait(lambda: self.rec.heard_until(t_end), 30.0, "the commands stamped up to the halt's end")
        stamps, q, qd = self.rec.commands_between(t_event, t_end)
        speed = np.abs(qd).max(axis=1) if len(qd) else np.zeros(0)
        rest = np.flatnonzero(speed < AT_REST)
        if not len(rest):
            return {"halt_time_s": float("inf"), "moved_without_authority": True}
        first = int(rest[0])
        after = speed[first:]
        return {"halt_time_s": float(stamps[first] - t_event),
                "speed_after_rest": float(after.max()),
                "moved_without_authority": bool((after >= AT_REST).any())}

    # ---- scenarios -------------------------------------------------------------------------
    def bring_up(self) -> None:
        self.expected_alive = {"sim", "wbc", "policy"}
        for name in ("sim", "wbc", "policy"):
            self.start(name)
        self.wait(lambda: self.wbc_mode() is not None and self.rec.positions, 90, "WBC status and joint states")
        self.wait(lambda: self.rec.policy_status, 120, "the policy node")

    def stop_trials(self) -> None:
        for trial in range(self.args.stop_trials):
            self.reset_scene()
            self.instruct(self.instruction)
            self.wait_moving()        # and strike at once: on 2 cores the policy moves the arm in bursts
            t_stop = now()
            self.call(self.stop_client)
            self.pause(self.args.hold_s)
            t_end = now()
            halt = self.halt_metrics(t_stop, t_end)
            self.limits_row("stop", t_stop - 0.05, t_end, trial=trial, event=t_stop, **halt,
                            ok=halt["halt_time_s"] < 0.5 and self.wbc_mode() == 5,
                            wbc_mode_after=self.wbc_mode(), chunks_after_stop=self.rec.chunks_after(t_stop))

    def bad_chunks(self) -> None:
        from gr2_testing.messages import action_chunk
        self.reset_scene()                                 # the policy idles, chunks are accepted
        self.pause(0.3)
        import pinocchio as pin
        # the TCP where the arm is measured (not /gr2/robot_state: 200 messages/s more to hear)
        tcp = self.robot.forward(self.rec.positions[-1][2])
        here, quat = tcp.translation.tolist(), tuple(pin.Quaternion(tcp.rotation).coeffs())   # x y z w
        base = self.rec.status[-1][1].chunks_rejected
        cases = {
            "nan": lambda: action_chunk(now(), [[float("nan"), 0.0, 0.3]] * 5, quat, 0.1, 1),
            "inf": lambda: action_chunk(now(), [[float("inf"), 0.0, 0.3]] * 5, quat, 0.1, 2),
            "empty": lambda: action_chunk(now(), [], quat, 0.1, 3),
            "oversized": lambda: action_chunk(now(), [here] * 2000, quat, 0.1, 4),
            "future": lambda: action_chunk(now() + 5.0, [here] * 5, quat, 0.1, 5),
            "past": lambda: action_chunk(now() - 5.0, [here] * 5, quat, 0.1, 6),
        }
        t0 = now()
        expected = 0
        for make in cases.values():
            self.chunk_pub.publish(make())
            expected += 1
            self.pause(0.3)
        # a valid chunk holding the pose (seq 100), then one numbered backwards (seq 50)
        self.chunk_pub.publish(action_chunk(now() - 0.01, [here] * 10, quat, 0.1, 100))
        self.pause(0.4)
        self.chunk_pub.publish(action_chunk(now() - 0.01, [here] * 10, quat, 0.1, 50))
        expected += 1
        with contextlib.suppress(TimeoutError):     # the count reaches the status a cycle or more later
            self.wait(lambda: self.rec.status[-1][1].chunks_rejected - base >= expected, 5.0, "the refusals")
        self.pause(0.5)                              # and no more than `expected` arrive
        refused = self.rec.status[-1][1].chunks_rejected - base
        t1 = now()
        speed = self.rec.measured_speed_between(t0, t1)
        self.limits_row("bad_chunks", t0, t1, refused=int(refused), expected_refusals=expected,
                        measured_speed=speed, moved_without_authority=bool(speed > MEASURED_MOTION),
                        ok=bool(refused == expected))

    def bad_input(self) -> None:
        from gr2_contract import stamp_seconds
        self.reset_scene()
        self.instruct(self.instruction)
        self.wait_moving()
        n = len(self.rec.policy_status)
        t0 = now()
        self.instruct("pick " * 2000)                    # 10 kB
        refusal = self.wait(lambda: next((s for _, s in self.rec.policy_status[n:] if "rejected" in s.message), None),
                            10, "the refusal on /gr2/policy/status")
        t_refused = stamp_seconds(refusal.header.stamp)
        self.pause(2.5)
        # an inference in flight at the refusal started from an earlier observation: any chunk
        # predicted from a later one means the task went on
        after = self.rec.chunks_after(t_refused)
        self.limits_row("bad_input", t0, now(), chunks_after_refusal=after, ok=after == 0)

    def load(self) -> None:
        self.reset_scene()
        self.instruct(self.instruction)
        self.pause(1.0)
        busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
                for _ in range(3)]
        t0 = now()
        try:
            end = time.monotonic() + self.args.load_s
            while time.monotonic() < end:              # keep a task running: re-instruct on success/idle
                self.pause(min(5.0, max(0.0, end - time.monotonic())))
                self.instruct(self.instruction)
        finally:
            for p in busy:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        t1 = now()
        modes = self.rec.modes_between(t0, t1)
        faults = sum(1 for a, b in zip(modes, modes[1:], strict=False) if b == 4 and a != 4)
        self.limits_row("load", t0, t1, seconds=self.args.load_s, busy_processes=3, false_faults=faults,
                        ok=faults == 0)

    def kill_while_moving(self, name: str, moving: bool = True) -> float:
        """Start the task, wait for motion (or, `moving` False, for the policy's first chunk),
        SIGKILL node `name`; returns the time of the kill."""
        self.reset_scene()
        t_instructed = now()
        self.instruct(self.instruction)
        if moving:
            self.wait_moving()
        else:
            self.wait(lambda: self.rec.chunks_after(t_instructed), 30.0, "the policy's first chunk")
        t0 = now()
        self.expected_alive.discard(name)
        self.kill(name)
        return t0

    def policy_kill(self) -> None:
        t0 = self.kill_while_moving("policy")
        self.pause(2.5)
        t1 = now()
        halt = self.halt_metrics(t0, t1)
        alive = all(self.procs[n].poll() is None for n in ("sim", "wbc"))
        accepted = self.rec.status[-1][1].chunks_accepted
        self.start("policy")
        self.expected_alive.add("policy")
        n = len(self.rec.policy_status)
        self.wait(lambda: len(self.rec.policy_status) > n, 120, "the restarted policy")
        # the instruction is volatile: sent again until the new policy's subscription has heard it
        deadline = time.monotonic() + 30
        next_instruct = 0.0
        while time.monotonic() < deadline and self.rec.status[-1][1].chunks_accepted <= accepted:
            if time.monotonic() >= next_instruct and not self.rec.running_since(n):
                self.instruct(self.instruction)
                next_instruct = time.monotonic() + 1.0
            self.pause(0.05)
        restarted = self.rec.status[-1][1].chunks_accepted > accepted
        self.limits_row("policy_kill", t0 - 0.05, t1, event=t0, **halt, robot_part_alive=alive,
                        restarted_policy_accepted=restarted, ok=alive and restarted)

    def recorder_kill(self) -> None:
        import tempfile

        import gr2_contract as c
        from gr2_bringup.bag.recover import recover_bag
        from gr2_bringup.up import recorder_command
        # beside the nodes' log: a test's tmp_path keeps it, a bench run keeps it for inspection
        bag = Path(tempfile.mkdtemp(prefix="gr2-faults-bag-", dir=Path(self.args.log).parent)) / "bag"
        self.commands["recorder"] = recorder_command(bag)
        self.start("recorder")
        self.expected_alive.add("recorder")
        self.wait(lambda: any(bag.glob("*.mcap")), 60, "the recorder's bag")
        # ready = its bag holds a joint command (the WBC's publisher matched, a chunk flushed): on a
        # loaded machine one topic's discovery can lag the others' by seconds
        self.wait(lambda: bag_holds(bag, c.JOINT_COMMAND), 30, "a joint command in the recorder's bag",
                  poll=0.5)                          # each look reads the growing bag
        # While the task runs, not while the arm moves: with the recorder and this process beside
        # the graph, the policy (nice 10) gets so little of 2 cores that its chunks reach the WBC
        # 1.1-4 s old and are refused as stale (30 s without motion). So the task running on is
        # the policy publishing chunks after the kill and the WBC commanding throughout; how many
        # of those chunks the WBC took is reported (chunks_accepted_after_kill), not judged.
        t0 = self.kill_while_moving("recorder", moving=False)
        t_kill_ns = time.time_ns()
        accepted = self.rec.status[-1][1].chunks_accepted
        self.pause(2.0)
        with contextlib.suppress(TimeoutError):
            self.wait(lambda: self.rec.chunks_after(t0), 10.0, "a chunk predicted after the kill")
        t1 = now()
        alive = all(self.procs[n].poll() is None for n in ("sim", "wbc", "policy"))
        ran_on = self.rec.chunks_after(t0) > 0 and len(self.rec.commands_between(t0, t1)[0]) > 0
        recovery = recover_bag(bag, bag.parent / "recovered")
        lost_s = (t_kill_ns - recovery.end_ns) / 1e9
        self.limits_row("recorder_kill", t0 - 0.05, t1, event=t0, robot_part_alive=alive, task_ran_on=bool(ran_on),
                        chunks_accepted_after_kill=self.rec.status[-1][1].chunks_accepted - accepted,
                        recovered_messages=sum(recovery.counts.values()),
                        recovered_joint_commands=recovery.counts.get(c.JOINT_COMMAND, 0),
                        data_lost_s=lost_s, recovered_bag=str(recovery.output),
                        ok=alive and bool(ran_on) and recovery.counts.get(c.JOINT_COMMAND, 0) > 0 and lost_s < 1.0)

    def sim_kill(self) -> None:
        t0 = self.kill_while_moving("sim")
        self.pause(1.0)
        t_restart = now()
        self.start("sim")
        self.expected_alive.add("sim")
        t_back = self.wait(lambda: self.rec.state_stamped_after(t_restart), 90, "the restarted sim's joint states")
        self.pause(3.0)
        t1 = now()
        with contextlib.suppress(TimeoutError):
            self.wait(lambda: self.rec.state_stamped_after(t1), 30.0, "the joint states stamped up to the row's end")
        speed = self.rec.measured_speed_between(t_back + 0.3, t1)   # after the new sim settled
        peak = self.rec.measured_speed_between(t_back, t1)
        v = [np.abs(qd) / self.vel_limit for _, s, _, qd in self.rec.positions if t_back <= s <= t1]
        self.limits_row("sim_kill", t0 - 0.05, t1, event=t0, measured_velocity_ratio=float(np.max(v)) if v else 0.0,
                        measured_speed_after_restart=speed, peak_measured_speed=peak,
                        moved_without_authority=bool(speed > MEASURED_MOTION), wbc_mode_after=self.wbc_mode(),
                        ok=bool(not v or np.max(v) <= 1.0 + TOLERANCE))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stop-trials", type=int, default=20)
    p.add_argument("--hold-s", type=float, default=2.0, help="how long a stop must hold, per trial")
    p.add_argument("--load-s", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=100000, help="pick_cube layout (a held-out seed)")
    p.add_argument("--instruction", help="the task's instruction (default: the layout's own, as the sim's "
                   "reset answers it)")
    p.add_argument("--scenarios", nargs="+", default=["stop", "bad_chunks", "bad_input", "load", "policy_kill",
                                                     "recorder_kill", "sim_kill"])
    p.add_argument("--out", default=str(ROOT / "bench/results/faults.json"))
    p.add_argument("--log", default="/tmp/gr2_faults_bench.log", help="the nodes' output")
    p.add_argument("--trace", help="also save every command, joint state and WBC status heard (.npz)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))           # gr2_testing.messages: the chunk builder
    from gr2_bringup.evaluate_graph import isolate_ros_graph
    domain = isolate_ros_graph(udp_only=True)      # this bench SIGKILLs nodes
    t_start = time.monotonic()
    bench = Bench(args)
    try:
        bench.bring_up()
        steps = {"stop": bench.stop_trials, "bad_chunks": bench.bad_chunks, "bad_input": bench.bad_input,
                 "load": bench.load, "policy_kill": bench.policy_kill, "recorder_kill": bench.recorder_kill,
                 "sim_kill": bench.sim_kill}
        for name in args.scenarios:
            steps[name]()
    finally:
        bench.close()
        if args.trace:
            bench.rec.save(Path(args.trace), bench.rows)
    rows = bench.rows
    result = {"command": " ".join(["python", "bench/faults_bench.py", *(sys.argv[1:] if argv is None else argv)]),
              "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "ros_domain_id": domain, "tolerance": TOLERANCE,
              "velocity_limit_rad_s": bench.vel_limit.tolist(), "acceleration_limit_rad_s2": bench.acc_limit.tolist(),
              "duration_s": time.monotonic() - t_start, "passed": all(r["passed"] for r in rows), "rows": rows}
    # the policy's own account of its inference beside this bench (/gr2/policy/status, its last
    # 100 chunks): on 2 cores it decides how often the arm moves at all
    timed = [m for _, m in bench.rec.policy_status if m.latency_p50 > 0]
    if timed:
        result["policy_inference_s"] = {"p50": timed[-1].latency_p50, "p95": timed[-1].latency_p95,
                                        "chunks_published": int(timed[-1].chunks_published)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=float))
    stops = [r for r in rows if r["fault"] == "stop"]
    print(f"[faults] {sum(r['passed'] for r in rows)}/{len(rows)} rows pass; stop held "
          f"{sum(r['passed'] for r in stops)}/{len(stops)}; wrote {args.out} ({result['duration_s']:.0f} s)")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
