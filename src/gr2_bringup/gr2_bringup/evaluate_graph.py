"""Closed-loop evaluation through the node graph: sim, WBC and policy as separate processes over DDS.

    python -m gr2_bringup.evaluate_graph --checkpoint DIR --task pick_cube --setting simple --episodes 10
    python -m gr2_bringup.evaluate_graph --untrained-preset tiny-sim --episodes 2 --timeout 6 --out /tmp/e.json

The nodes are the ones `gr2-up sim:=true` starts, with the project's parameter files
(config/graph.yaml through gr2_bringup.graph; the policy gets `checkpoint:=DIR`), in a ROS graph
of their own (a random ROS_DOMAIN_ID, localhost-only discovery). For each held-out seed this
process sets the sim node's `task` / `setting` / `seed` parameters, calls /gr2/sim/reset (its
response is the instruction), publishes the instruction on /gr2/instruction and waits until
/gr2/sim/task_success says True or `--timeout` seconds of wall time pass. Each episode gives one
`eval_report.EpisodeResult`; `duration_s` is wall time from the instruction to the first True
(in real-time mode sim time follows wall time; the sim publishes success at 10 Hz), `chunks` the
/gr2/action_chunk messages received during the episode, `expert_success` the scripted expert on
the same seed, run in this process before the graph starts (so it takes no CPU from the real-time
nodes). The table and the JSON entry (`evaluator: node_graph`) have the format of
gr2_bringup.evaluate's.

Episode independence. Between episodes:
  1. The policy gets an empty instruction and goes idle: an inference still running for the old
     instruction is dropped when it finishes (the node drops results whose instruction changed),
     and this process waits longer than such an inference takes before the next instruction.
     `GR2Policy.predict` appends to the observation history outside the node's lock, so a late
     old inference finishing after the next instruction's `policy.reset()` would put a pre-reset
     frame into the new episode's history; waiting for it rules that out.
  2. The WBC is stopped (/gr2/stop; its status says STOPPED), the sim is reset (arm at home,
     gripper open) and the WBC resumed (/gr2/resume), as an operator would do it on the running
     graph. The stopped WBC goes on commanding the pose where the last episode ended; the sim
     drops those commands after its reset (`reset_command_tolerance`) and holds home, and the
     resume restarts the WBC from the measured configuration with the next gripper command sent
     whatever it sent before (`Controller.resume`), so the episode starts at home with nothing
     of the last one's commands, chunk stamps or gripper state. The resume also refuses chunks
     predicted from observations before it.
  3. The instruction is sent after the resume, so the policy's first observation shows the new
     layout and the arm at home; each episode records the measured distance from home then
     (`extra.start_joint_error_rad`; `extra.end_joint_offset_rad` is where it ended).
The policy node resets its history and chunk clock on every instruction message, also when the
text repeats. It keeps its inference-delay estimate (timing only, not episode state).

Evaluation seeds start at gr2_drivers.sim.tasks.EVAL_FIRST_SEED; lower (training) seeds are
refused unless --allow-training-seeds. Ctrl-C (or SIGTERM) stops every node process this
command started, by process group, also on any error.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import random
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from gr2_bringup import eval_report
from gr2_bringup.eval_report import EpisodeResult
from gr2_bringup.graph import NodeSpec, resolve_graph
from gr2_bringup.up import Graph
from gr2_contract import stamp_seconds

EVALUATOR = "node_graph"
MODULE_COMMAND = ["python", "-m", "gr2_bringup.evaluate_graph"]   # how the JSON states the command


@dataclass
class EvalConfig:
    """One evaluation run through the node graph (the command-line options; times in s)."""
    checkpoint: str = ""                 # checkpoint directory (exclusive with untrained_preset)
    untrained_preset: str = ""           # run this untrained model preset instead (pipeline tests)
    task: str = "pick_cube"
    setting: str = "simple"
    episodes: int = 10
    first_seed: int = 100_000            # gr2_drivers.sim.tasks.EVAL_FIRST_SEED
    timeout: float = 20.0                # s of wall time per episode after the instruction
    out: Path = Path("bench/results/eval.json")
    expert: bool = True                  # run the scripted expert on the same seeds
    allow_training_seeds: bool = False
    device: str = "cpu"                  # torch device of the policy node (graph argument `device`)
    startup_timeout: float = 180.0       # s for the sim, the WBC and the policy (model load, warm-up) to come up
    settle: float = 0.5                  # s at least between the old instruction's end and the next
    log_dir: Path = Path("results/evaluate_graph")   # node output goes to a file here
    domain_id: int = 0                   # ROS_DOMAIN_ID of the private graph; 0: random in 1..101


def validate(cfg: EvalConfig) -> None:
    """Raise ValueError for a configuration that must not run (training seeds, no policy, ...)."""
    from gr2_drivers.sim.tasks import EVAL_FIRST_SEED, SETTINGS, TASKS
    if bool(cfg.checkpoint) == bool(cfg.untrained_preset):
        raise ValueError("give exactly one of --checkpoint DIR and --untrained-preset NAME")
    if cfg.checkpoint:
        from gr2_policy.checkpoint import resolve_checkpoint
        if not Path(resolve_checkpoint(cfg.checkpoint)).is_dir():   # package:// URIs resolve too
            raise ValueError(f"checkpoint directory {cfg.checkpoint} does not exist")
    if cfg.task not in TASKS:
        raise ValueError(f"unknown task {cfg.task!r}; known: {sorted(TASKS)}")
    if cfg.setting not in SETTINGS:
        raise ValueError(f"unknown setting {cfg.setting!r}; known: {list(SETTINGS)}")
    if cfg.episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {cfg.episodes}")
    if cfg.timeout <= 0:
        raise ValueError(f"--timeout must be > 0 s, got {cfg.timeout}")
    if cfg.first_seed < EVAL_FIRST_SEED and not cfg.allow_training_seeds:
        raise ValueError(f"seeds {cfg.first_seed}..{cfg.first_seed + cfg.episodes - 1} include training seeds: "
                         f"evaluation seeds start at EVAL_FIRST_SEED = {EVAL_FIRST_SEED} (datasets use lower "
                         f"seeds, so their layouts were seen in training); pass --allow-training-seeds to "
                         f"evaluate on them anyway")
    if not 0 <= cfg.domain_id <= 101:
        raise ValueError(f"--domain-id must be in 0..101 (0: random), got {cfg.domain_id}")


def isolate_ros_graph(domain_id: int = 0, udp_only: bool = False) -> int:
    """A private ROS graph for this process and the nodes it starts (they inherit the environment):
    a random ROS_DOMAIN_ID (1..101 keep the DDS ports clear of Linux's ephemeral range) and
    localhost-only discovery (conftest.py gives the tests theirs here). Returns the domain ID.

    udp_only: Fast DDS without its shared-memory transport, for graphs whose nodes get SIGKILLed
    (tests, the faults bench): a participant killed while it creates a shared-memory port leaves
    the segment uninitialised, and Fast DDS 2.14 then spins forever creating any later participant
    that maps that port (same domain and participant index)."""
    domain_id = domain_id or random.SystemRandom().randint(1, 101)
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.pop("ROS_STATIC_PEERS", None)
    os.environ.pop("ROS_LOCALHOST_ONLY", None)   # deprecated in Jazzy; the range above replaces it
    if udp_only:
        os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "UDPv4"
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    return domain_id


def node_specs(cfg: EvalConfig) -> dict[str, NodeSpec]:
    """The sim, WBC and policy of config/graph.yaml with sim:=true, keyed "sim", "wbc", "policy".
    The sim starts on the first episode's layout (its model is compiled once, at start-up)."""
    specs: dict[str, NodeSpec] = {}
    args = {"sim": "true", "checkpoint": cfg.checkpoint, "device": cfg.device}
    for spec in resolve_graph(args):
        if spec.executable == "sim_node":
            extra = {"task": cfg.task, "setting": cfg.setting, "seed": str(cfg.first_seed)}
            specs["sim"] = dataclasses.replace(spec, parameters={**spec.parameters, **extra})
        elif spec.executable == "wbc_node":
            specs["wbc"] = spec
        elif spec.executable == "policy_node":
            extra = {"untrained_preset": cfg.untrained_preset} if cfg.untrained_preset else {}
            specs["policy"] = dataclasses.replace(spec, parameters={**spec.parameters, **extra})
    missing = {"sim", "wbc", "policy"} - set(specs)
    if missing:
        raise RuntimeError(f"config/graph.yaml with sim:=true has no {sorted(missing)} node")
    return specs


def run_expert(cfg: EvalConfig, seeds: list[int]) -> dict[int, tuple[bool, str]]:
    """seed -> (scripted expert's success, instruction), in this process, no rendering."""
    from tqdm import tqdm

    from gr2_drivers.sim.expert import ScriptedExpert
    from gr2_drivers.sim.world import World, load_sim_config
    world = World(load_sim_config())
    results = {}
    for seed in tqdm(seeds, desc="expert", unit="ep", dynamic_ncols=True):
        instruction = world.reset(cfg.task, cfg.setting, seed)
        results[seed] = (bool(ScriptedExpert(world).run()), instruction)
    return results


class Interrupted(KeyboardInterrupt):
    """SIGTERM, treated like Ctrl-C: unwind and stop the nodes."""


def _raise_interrupted(signum, frame):
    raise Interrupted(f"signal {signum}")


class GraphClient:
    """This process's ROS node: the sim's parameters and reset, the instruction, and what it
    watches (task success, action chunks, WBC and policy status). Low-rate topics only, plus
    /joint_states for a moment before each episode."""

    def __init__(self, sim_node_name: str):
        import rclpy
        from rcl_interfaces.srv import SetParameters
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from rclpy.signals import SignalHandlerOptions
        from std_msgs.msg import Bool, String
        from std_srvs.srv import Trigger

        import gr2_contract as c
        from gr2_msgs.msg import ActionChunk, PolicyStatus, WbcStatus

        self.context = rclpy.Context()
        # No rclpy signal handlers: Ctrl-C stays a KeyboardInterrupt, so the caller's cleanup runs.
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node("gr2_evaluate_graph", context=self.context)
        # Not the nodes' EventsExecutor: it never delivers to subscriptions created after the node
        # was added, and the /joint_states probe is created per episode.
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        reliable = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
        latched = c.latched_qos()
        self.success = False                 # task success seen since the instruction
        self.episode_active = False
        self.chunks = 0                      # action chunks received since the instruction
        self.policy_status: PolicyStatus | None = None
        self.wbc_status: WbcStatus | None = None
        self.sim_instruction_seen = False
        self.node.create_subscription(Bool, c.SIM_TASK_SUCCESS, self._on_success, reliable)
        self.node.create_subscription(ActionChunk, c.ACTION_CHUNK, self._on_chunk, reliable)
        self.node.create_subscription(PolicyStatus, c.POLICY_STATUS,
                                      lambda m: setattr(self, "policy_status", m), reliable)
        self.node.create_subscription(WbcStatus, c.WBC_STATUS, lambda m: setattr(self, "wbc_status", m), latched)
        self.node.create_subscription(String, c.SIM_TASK_INSTRUCTION,
                                      lambda m: setattr(self, "sim_instruction_seen", True), latched)
        self.instruction_pub = self.node.create_publisher(String, c.INSTRUCTION, reliable)
        self.set_params = self.node.create_client(SetParameters, f"/{sim_node_name}/set_parameters")
        self.reset_client = self.node.create_client(Trigger, c.SIM_RESET)
        self.stop_client = self.node.create_client(Trigger, c.STOP_SERVICE)
        self.resume_client = self.node.create_client(Trigger, c.RESUME_SERVICE)
        self._String, self._Trigger, self._SetParameters = String, Trigger, SetParameters
        self._STOPPED = WbcStatus.MODE_STOPPED

    def _on_success(self, msg) -> None:
        if self.episode_active and msg.data:
            self.success = True

    def _on_chunk(self, msg) -> None:
        if self.episode_active:
            self.chunks += 1

    def now(self) -> float:
        """ROS time, s (the system clock, which the nodes stamp their messages with)."""
        return self.node.get_clock().now().nanoseconds * 1e-9

    def spin_until(self, predicate: Callable[[], bool], timeout: float, what: str,
                   check: Callable[[], None] = lambda: None) -> float:
        """Spin until `predicate()`; `check()` raises if a node died. Returns the seconds waited."""
        t0 = time.monotonic()
        while not predicate():
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            check()
            self.executor.spin_once(timeout_sec=0.05)
        return time.monotonic() - t0

    def call(self, client, request, timeout: float, check: Callable[[], None]):
        what = f"service {client.srv_name}"
        self.spin_until(lambda: client.service_is_ready(), timeout, what, check)
        future = client.call_async(request)
        self.spin_until(future.done, timeout, f"the answer of {what}", check)
        return future.result()

    def reset_sim(self, task: str, setting: str, seed: int, check: Callable[[], None]) -> str:
        """Set the sim node's task/setting/seed parameters and reset it; returns the instruction."""
        from rclpy.parameter import Parameter
        request = self._SetParameters.Request(parameters=[
            Parameter("task", Parameter.Type.STRING, task).to_parameter_msg(),
            Parameter("setting", Parameter.Type.STRING, setting).to_parameter_msg(),
            Parameter("seed", Parameter.Type.INTEGER, seed).to_parameter_msg()])
        result = self.call(self.set_params, request, 10.0, check)
        failed = [r.reason for r in result.results if not r.successful]
        if failed:
            raise RuntimeError(f"sim node refused its parameters: {failed}")
        response = self.call(self.reset_client, self._Trigger.Request(), 30.0, check)
        if not response.success:
            raise RuntimeError(f"/gr2/sim/reset failed for {task} {setting} seed {seed}: {response.message}")
        return response.message

    def stop_wbc(self, check: Callable[[], None]) -> None:
        """/gr2/stop, then wait for the WBC's status to say STOPPED (at rest)."""
        t_sent = self.now()
        self.call(self.stop_client, self._Trigger.Request(), 10.0, check)

        def stopped() -> bool:
            s = self.wbc_status
            return (s is not None and s.mode == self._STOPPED
                    and stamp_seconds(s.header.stamp) >= t_sent)
        self.spin_until(stopped, 10.0, "the WBC to stop", check)

    def resume_wbc(self, check: Callable[[], None]) -> None:
        """/gr2/resume: the WBC holds the measured configuration and accepts new chunks."""
        response = self.call(self.resume_client, self._Trigger.Request(), 10.0, check)
        if not response.success:
            raise RuntimeError(f"/gr2/resume refused: {response.message}")

    def send_instruction(self, text: str) -> None:
        self.instruction_pub.publish(self._String(data=text))

    def joint_positions(self, names: list[str], timeout: float, check: Callable[[], None]) -> list[float]:
        """One /joint_states sample of `names` (subscribed only for this: it is a 250 Hz stream)."""
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import JointState

        import gr2_contract as c
        got: list = []
        sub = self.node.create_subscription(JointState, c.JOINT_STATES, got.append, qos_profile_sensor_data)
        try:
            self.spin_until(lambda: bool(got), timeout, "/joint_states", check)
        finally:
            self.node.destroy_subscription(sub)
        index = {n: i for i, n in enumerate(got[-1].name)}
        return [got[-1].position[index[n]] for n in names]

    def close(self) -> None:
        import rclpy
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


class Evaluation:
    """The running graph: sim, WBC and policy, started once for the whole run."""

    def __init__(self, cfg: EvalConfig, log):
        self.cfg, self.log = cfg, log
        self.specs = node_specs(cfg)
        self.graph: Graph | None = None
        self.client: GraphClient | None = None

    # --- processes ------------------------------------------------------------------------
    def _start(self, specs: list[NodeSpec]) -> Graph:
        graph = Graph(specs)
        with contextlib.redirect_stdout(self.log):   # gr2-up's "started ..." lines: into the log
            graph.start(out=self.log)
        return graph

    def _stop(self, graph: Graph | None) -> dict[str, int]:
        if graph is None:
            return {}
        with contextlib.redirect_stdout(self.log):
            return graph.shutdown()

    def check_alive(self) -> None:
        """Raise if a node process this evaluation started has exited."""
        exited = self.graph.first_exited() if self.graph else None
        if exited:
            self.log.flush()
            raise RuntimeError(f"node {exited[0]} exited with code {exited[1]} (its output: {self.log.name})")

    def start(self) -> None:
        self.client = GraphClient(self.specs["sim"].name)
        self.graph = self._start([self.specs["sim"], self.specs["wbc"], self.specs["policy"]])
        c = self.client
        c.spin_until(lambda: c.sim_instruction_seen and c.policy_status is not None
                     and c.wbc_status is not None and c.wbc_status.cycles > 0
                     and c.instruction_pub.get_subscription_count() > 0,
                     self.cfg.startup_timeout, "the sim, the WBC and the policy to come up", self.check_alive)
        expected = self.cfg.checkpoint or f"untrained:{self.cfg.untrained_preset}"
        if c.policy_status.checkpoint != expected:
            raise RuntimeError(f"the policy node runs {c.policy_status.checkpoint!r}, not {expected!r}")

    def stop(self) -> dict[str, int]:
        """Stop every node process (SIGINT, then SIGTERM, then SIGKILL, per process group)."""
        try:
            return self._stop(self.graph)
        finally:
            self.graph = None
            if self.client is not None:
                self.client.close()
                self.client = None

    # --- one episode ----------------------------------------------------------------------
    def _policy_idle(self) -> None:
        """Empty instruction; wait for the policy to say it is idle and for a running inference
        to finish (it is dropped then: its instruction is no longer the node's)."""
        c = self.client
        t_sent = c.now()
        c.send_instruction("")
        c.spin_until(lambda: c.policy_status is not None and c.policy_status.instruction == ""
                     and stamp_seconds(c.policy_status.header.stamp) >= t_sent,
                     10.0, "the policy to go idle", self.check_alive)

    def episode(self, seed: int, home: list[float], joints: list[str]) -> EpisodeResult:
        cfg, c = self.cfg, self.client
        t_idle = time.monotonic()
        self._policy_idle()
        t_reset = time.monotonic()   # stop, reset, resume: see the module docstring
        c.stop_wbc(self.check_alive)
        instruction = c.reset_sim(cfg.task, cfg.setting, seed, self.check_alive)
        c.resume_wbc(self.check_alive)
        reset_s = time.monotonic() - t_reset
        # An inference started before the idle instruction takes about latency_p95; twice that
        # (and at least `settle`) must have passed before the next instruction resets the history.
        p95 = c.policy_status.latency_p95 if c.policy_status else 0.0
        ready_at = t_idle + max(cfg.settle, 2.0 * p95)
        c.spin_until(lambda: time.monotonic() >= ready_at, max(cfg.settle, 2.0 * p95) + 1.0,
                     "the policy's last inference", self.check_alive)
        q0 = c.joint_positions(joints, 5.0, self.check_alive)
        start_error = max(abs(a - b) for a, b in zip(q0, home, strict=False))

        c.success, c.chunks, c.episode_active = False, 0, True
        c.send_instruction(instruction)
        t0 = time.monotonic()
        try:
            c.spin_until(lambda: c.success or time.monotonic() - t0 >= cfg.timeout,
                         cfg.timeout + 5.0, "the episode", self.check_alive)
        finally:
            c.episode_active = False
        duration = time.monotonic() - t0
        q1 = c.joint_positions(joints, 5.0, self.check_alive)
        extra = {"start_joint_error_rad": round(start_error, 6),
                 "end_joint_offset_rad": round(max(abs(a - b) for a, b in zip(q1, home, strict=False)), 6),
                 "reset_s": round(reset_s, 3)}
        return EpisodeResult(task=cfg.task, setting=cfg.setting, seed=seed, instruction=instruction,
                             success=c.success, duration_s=round(min(duration, cfg.timeout), 3),
                             chunks=c.chunks, extra=extra)


def evaluate(cfg: EvalConfig, argv: list[str] | None = None) -> tuple[list[EpisodeResult], dict]:
    """Run the evaluation, print the table, write the JSON entry; returns (episodes, entry)."""
    from tqdm import tqdm

    from gr2_description.robot import load_robot_description
    validate(cfg)
    domain_id = isolate_ros_graph(cfg.domain_id)
    seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.episodes))
    if cfg.checkpoint:
        from gr2_policy.checkpoint import fingerprint
        checkpoint = fingerprint(cfg.checkpoint)
    else:
        checkpoint = {"untrained_preset": cfg.untrained_preset}
    description = load_robot_description()
    home, joints = list(description.home), list(description.arm_joints)
    expert = run_expert(cfg, seeds) if cfg.expert else {}

    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = cfg.log_dir / time.strftime("nodes_%Y%m%d_%H%M%S.log")
    print(f"[evaluate_graph] ROS_DOMAIN_ID={domain_id}; node output: {log_path}", flush=True)
    results: list[EpisodeResult] = []
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupted)
    with open(log_path, "w") as log:
        run = Evaluation(cfg, log)
        try:
            t0 = time.monotonic()
            run.start()
            print(f"[evaluate_graph] sim and policy up in {time.monotonic() - t0:.1f} s", flush=True)
            bar = tqdm(seeds, desc="episodes", unit="ep", dynamic_ncols=True)
            for seed in bar:
                result = run.episode(seed, home, joints)
                if seed in expert:
                    result.expert_success = expert[seed][0]
                    if expert[seed][1] != result.instruction:   # the two worlds disagree on the layout
                        result.extra["expert_instruction"] = expert[seed][1]
                        bar.write(f"[evaluate_graph] WARNING seed {seed}: the expert's instruction "
                                  f"{expert[seed][1]!r} differs from the sim node's {result.instruction!r}")
                results.append(result)
                bar.set_postfix(success=f"{sum(r.success for r in results)}/{len(results)}")
                bar.write(f"seed {seed}: {'success' if result.success else 'failure'} after "
                          f"{result.duration_s:.1f} s, {result.chunks} chunks, start error "
                          f"{result.extra['start_joint_error_rad']:.4f} rad"
                          + ("" if result.expert_success is None else f", expert {result.expert_success}"))
            bar.close()
        finally:
            # A second Ctrl-C must not cut the shutdown short and leave nodes running.
            previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                codes = run.stop()
            finally:
                signal.signal(signal.SIGINT, previous_int)
                signal.signal(signal.SIGTERM, previous_term)
    unclean = {n: code for n, code in codes.items() if code not in (0, -signal.SIGINT)}
    if unclean:
        print(f"[evaluate_graph] WARNING: nodes exited with {unclean} (see {log_path})", flush=True)

    print(eval_report.format_table(eval_report.summarise(results)))
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(cfg).items()}
    settings["domain_id"] = domain_id
    entry = eval_report.write_results(cfg.out, EVALUATOR, results, checkpoint=checkpoint, settings=settings,
                                      argv=MODULE_COMMAND + list(sys.argv[1:] if argv is None else argv))
    print(f"[evaluate_graph] results: {cfg.out}", flush=True)
    return results, entry


def parse_args(argv: list[str] | None = None) -> EvalConfig:
    """The EvalConfig of the command line; exits with a usage error when `validate` refuses it."""
    d = EvalConfig()
    parser = argparse.ArgumentParser(prog="python -m gr2_bringup.evaluate_graph",
                                     description=__doc__.split("\n\n")[0])
    policy = parser.add_mutually_exclusive_group(required=True)
    policy.add_argument("--checkpoint", default="", help="GR-2 checkpoint directory (or package:// URI) for the "
                                                          "policy node")
    policy.add_argument("--untrained-preset", default="",
                        help="run this untrained model preset (e.g. tiny-sim) instead: tests the pipeline only")
    parser.add_argument("--task", default=d.task)
    parser.add_argument("--setting", default=d.setting)
    parser.add_argument("--episodes", type=int, default=d.episodes)
    parser.add_argument("--first-seed", type=int, default=d.first_seed)
    parser.add_argument("--timeout", type=float, default=d.timeout, help="s of wall time per episode")
    parser.add_argument("--out", type=Path, default=d.out)
    parser.add_argument("--no-expert", dest="expert", action="store_false",
                        help="do not run the scripted expert on the same seeds")
    parser.add_argument("--allow-training-seeds", action="store_true",
                        help="allow seeds below EVAL_FIRST_SEED (layouts the training data used)")
    parser.add_argument("--device", default=d.device, help="torch device of the policy node")
    parser.add_argument("--startup-timeout", type=float, default=d.startup_timeout)
    parser.add_argument("--settle", type=float, default=d.settle)
    parser.add_argument("--log-dir", type=Path, default=d.log_dir)
    parser.add_argument("--domain-id", type=int, default=d.domain_id, help="0: random in 1..101")
    cfg = EvalConfig(**vars(parser.parse_args(argv)))
    if cfg.checkpoint and not cfg.checkpoint.startswith("package://"):
        cfg.checkpoint = str(Path(cfg.checkpoint).resolve())   # the nodes may not share our cwd
    try:
        validate(cfg)
    except ValueError as err:
        parser.error(str(err))
    return cfg


def main(argv: list[str] | None = None) -> int:
    """Evaluate from the command line; 130 when interrupted (every started node is stopped first)."""
    cfg = parse_args(argv)
    try:
        evaluate(cfg, argv)
    except KeyboardInterrupt:
        print("\n[evaluate_graph] interrupted: every node process it started has been stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
