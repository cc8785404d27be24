"""In-process closed-loop evaluation: the sim world, the GR-2 policy and the WBC's controller in
lockstep, with the code the nodes run, on held-out seeds.

    python -m gr2_bringup.evaluate --config config/pick_cube/evaluate.yaml
    python -m gr2_bringup.evaluate --checkpoint DIR --task pick_cube --settings simple distractor --episodes 50
    python -m gr2_bringup.evaluate --checkpoint DIR --tasks all --settings simple --episodes 20

Per episode: `World.reset(task, setting, seed)`; then in simulated time, every WBC period
(config/wbc.yaml, 5 ms) the controller gets the joint measurement and its command goes to the
sim's servos; the cameras render at the sim node's rate and size (config/sim.yaml) and the
policy's observation is assembled by the node's own `runtime.ObservationAssembler` (so frames
take `model_input.prepare_frame`, the one data path); inference starts when the node's
`runtime.ChunkClock` says so, and its chunk reaches the controller `delay` seconds after the
observation (the modelled inference + transport latency; default: the frame -> chunk p50 that
`make bench-e2e` measured on this machine, bench/results/e2e.json), and takes over from the
executing one `switch_lead` seconds after it arrives (the modelled optimisation; default: that
run's chunk -> first command p50). The episode ends at the task's success or `max_time`.
Physics and control run in lockstep and both latencies are modelled, not incurred, so wall-clock
speed and machine load do not change the outcome: the same checkpoint and seeds give the same
episodes (the controller's optimisation clock stands still here; on the node it is the wall clock).

Also measured per episode: whether any free object was lifted 4 cm and whether it was the one
the instruction names (colour grounding), and the scripted expert's success on the same seed.
Writes `bench/results/eval.json` (gr2_bringup.eval_report) with the checkpoint's fingerprint and
the exact command.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .eval_report import EpisodeResult, format_table, summarise, write_results

LIFT_HEIGHT = 0.04    # m above its resting height: an object counts as lifted (grounding metric)


@dataclass
class EvalConfig:
    """Set by `build_runner` from config/sim.yaml and the --delay option."""
    delay: float                    # s from the observation (oldest frame) to the chunk at the WBC
    switch_lead: float              # s from the chunk at the WBC to the chunk taking over
    camera_rate: float              # Hz, the sim node's camera_rate
    image_size: tuple[int, int]     # (width, height), the sim node's image_width / image_height
    task: str = "pick_cube"
    max_time: float = 15.0          # s of simulated time per episode
    success_check_period: float = 0.1   # s


def e2e_latency(path: Path, which: str = "frame_to_chunk") -> float:
    """A p50 latency of the last `make bench-e2e` (s): `frame_to_chunk` (the inference delay) or
    `chunk_to_first_command` (the WBC's switch to a new chunk). FileNotFoundError says what to do
    where the workspace's bench/results is not at hand (an installed ROS host)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (written by `make bench-e2e`); pass --delay and "
                                f"--switch-lead in seconds")
    doc = json.loads(path.read_text())
    return float(doc["latency"][which]["p50_ms"]) / 1000.0


class LockstepEpisode:
    """One episode of policy + controller + sim in simulated time."""

    def __init__(self, world, policy, controller_factory, runtime_cfg, cfg: EvalConfig):
        self.world, self.policy, self.make_controller = world, policy, controller_factory
        self.runtime_cfg, self.cfg = runtime_cfg, cfg

    def free_objects(self) -> list[str]:
        m = self.world.model
        import mujoco
        return [m.joint(j).name[:-len("/free")] for j in range(m.njnt)
                if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE]

    def run(self, task: str, setting: str, seed: int, on_record=None, record_period: float = 0.1,
            edit_scene=None) -> EpisodeResult:
        """One episode. `on_record(t, gripper_command)`, if given, is called every `record_period`
        s of sim time before the control step (DAgger records and relabels the visited states).
        `edit_scene(world, instruction) -> instruction`, if given, changes the laid-out scene
        (e.g. recolours an object) and may change the instruction, before the first frame
        (counterfactual probes; the success check stays the task's own)."""
        from gr2_policy.runtime import ChunkClock, ObservationAssembler
        from gr2_wbc.trajectory import ChunkData

        w, cfg = self.world, self.cfg
        instruction = w.reset(task, setting, seed)
        if edit_scene is not None:
            instruction = edit_scene(w, instruction)
        target = getattr(w.task, "target", None)
        objects = self.free_objects()
        rest = {o: float(w.data.body(o).xpos[2]) for o in objects}
        lifted: set[str] = set()
        model_cfg = self.policy.model.config
        views = tuple(model_cfg.views)
        assembler = ObservationAssembler(views, model_cfg.vqgan.resolution, self.runtime_cfg, model_cfg.view_crops)
        clock = ChunkClock(self.runtime_cfg, model_cfg.action_dt, model_cfg.chunk_size)
        self.policy.reset()
        controller = self.make_controller()
        wbc_dt = controller.cfg.period
        camera_dt = 1.0 / cfg.camera_rate
        next_wbc = next_camera = next_check = next_record = 0.0
        gripper_command = 0.0
        pending: list[tuple[float, float, object]] = []     # (ready time, obs stamp, chunk result)
        chunks, success, t = 0, False, 0.0
        inference_s: list[float] = []
        try:
            while t <= cfg.max_time:
                t = w.time
                if t >= next_camera - 1e-9:
                    for v in views:
                        assembler.add_frame(v, t, w.render(v, *cfg.image_size))
                    next_camera += camera_dt
                if on_record is not None and t >= next_record - 1e-9:
                    on_record(t, gripper_command)
                    next_record += record_period
                if t >= next_wbc - 1e-9:
                    next_wbc += wbc_dt
                    q = w.joint_positions()
                    controller.update_measurement(t, q)
                    pos, quat = w.ee_pose()
                    assembler.add_state(t, pos, quat, _closure(w.gripper_position()))
                    while pending and pending[0][0] <= t + 1e-9:
                        _, stamp, res = pending.pop(0)
                        chunk = ChunkData(stamp=stamp, dt=res.dt, positions=res.positions,
                                          quaternions=res.quaternions, gripper=res.gripper, sequence=chunks)
                        controller.submit_chunk(chunk, t)
                        clock.finished(stamp, t)
                        chunks += 1
                    if not pending and clock.due(t):
                        obs, _why = assembler.assemble(t)
                        if obs is not None:
                            clock.started(t)
                            t0 = time.perf_counter()
                            res = self.policy.predict(obs, instruction)
                            inference_s.append(time.perf_counter() - t0)
                            pending.append((obs.stamp + cfg.delay, obs.stamp, res))
                    out = controller.step(t)
                    if out is not None:
                        w.set_joint_command(out.position, out.velocity)
                        if out.gripper is not None:
                            gripper_command = float(out.gripper)
                            w.set_gripper(gripper_command)
                if t >= next_check - 1e-9:
                    next_check += cfg.success_check_period
                    for o in objects:
                        if w.data.body(o).xpos[2] > rest[o] + LIFT_HEIGHT:
                            lifted.add(o)
                    if w.success():
                        success = True
                        break
                w.step(1)
        finally:
            controller.close()
        # The gripper's closure at the end tells failure kinds apart: 0.56 = closed square on a cube,
        # ~0.38 = across its diagonal, 1.0 = on nothing, 0 = never closed.
        extra = {"inference_ms_p50": round(1000 * float(np.median(inference_s)), 1) if inference_s else None,
                 "lifted_objects": sorted(lifted), "gripper_closure_at_end": round(w.gripper_position(), 2)}
        return EpisodeResult(task=task, setting=setting, seed=seed, instruction=instruction, success=success,
                             lifted=bool(lifted), lifted_target=(target in lifted) if target else None,
                             duration_s=round(t, 3), chunks=chunks, extra=extra)


def _closure(position: float) -> float:
    from gr2_policy.model_input import gripper_closure
    return float(gripper_closure(position))


def expert_success(world, task: str, setting: str, seed: int) -> bool:
    """Whether the scripted expert solves `task` in `setting` laid out with `seed` (the same
    episode the policy is evaluated on)."""
    from gr2_drivers.sim.expert import ScriptedExpert
    world.reset(task, setting, seed)
    return bool(ScriptedExpert(world).run())


def load_sim_params() -> dict:
    """The sim node's parameters from config/sim.yaml (cameras, rates), so the evaluator's world
    is the one the node would run."""
    import yaml

    from gr2_contract.config import config_dir
    return yaml.safe_load((config_dir() / "sim.yaml").read_text())["/**"]["ros__parameters"]


def runtime_config_from_policy_yaml():
    """The policy node's RuntimeConfig from config/policy.yaml (same fields, same defaults)."""
    import dataclasses

    import yaml

    from gr2_contract.config import config_dir
    from gr2_policy.runtime import RuntimeConfig
    params = yaml.safe_load((config_dir() / "policy.yaml").read_text())["/**"]["ros__parameters"]
    return RuntimeConfig(**{f.name: type(f.default)(params[f.name]) for f in dataclasses.fields(RuntimeConfig)
                            if f.name in params})


def build_runner_config(delay: str, switch_lead: str = "e2e", task: str = "pick_cube",
                        max_time: float = 15.0) -> EvalConfig:
    """The EvalConfig of `build_runner`: `delay` / `switch_lead` in seconds, or "e2e" for the p50s
    of bench/results/e2e.json; cameras of config/sim.yaml."""
    from gr2_contract.config import config_dir
    e2e = config_dir().parent / "bench" / "results" / "e2e.json"
    seconds = e2e_latency(e2e) if delay == "e2e" else float(delay)
    lead = e2e_latency(e2e, "chunk_to_first_command") if switch_lead == "e2e" else float(switch_lead)
    sim = load_sim_params()
    return EvalConfig(task=task, max_time=max_time, delay=seconds, switch_lead=lead,
                      camera_rate=float(sim["camera_rate"]),
                      image_size=(int(sim["image_width"]), int(sim["image_height"])))


def build_runner(checkpoint: str, untrained_preset: str, task: str, max_time: float,
                 delay: str, switch_lead: str = "e2e") -> tuple[LockstepEpisode, EvalConfig]:
    """The lockstep runner the evaluator and DAgger share: the policy (checkpoint or untrained
    preset), the WBC controller of config/wbc.yaml (optimiser in this process, its clock
    standing still), the sim world and cameras of config/sim.yaml, the policy node's runtime rules
    of config/policy.yaml. `delay`: seconds, or "e2e" = the frame -> chunk p50 of
    bench/results/e2e.json; `switch_lead`: seconds, or "e2e" = its chunk -> first command p50."""
    from gr2_drivers.sim.world import World, load_sim_config
    from gr2_policy.runtime import load_runtime_policy
    from gr2_wbc.config import load_controller_config
    from gr2_wbc.controller import Controller
    from gr2_wbc.robot_model import RobotModel

    cfg = build_runner_config(delay, switch_lead, task, max_time)
    loaded = load_runtime_policy(checkpoint or "", untrained_preset=untrained_preset)
    ctrl_cfg = load_controller_config()
    ctrl_cfg.optimiser_process = False     # one process: the optimiser runs in the caller (same code)
    ctrl_cfg.switch_lead = cfg.switch_lead
    robot = RobotModel.load(ctrl_cfg.model)

    def controller() -> Controller:
        return Controller(ctrl_cfg, robot=robot, optimisation_clock=lambda: 0.0)

    runner = LockstepEpisode(World(load_sim_config()), loaded.policy, controller, runtime_config_from_policy_yaml(),
                             cfg)
    return runner, cfg


def run_episodes(jobs: list[tuple[str, str, int]], runner_args: dict, with_expert: bool, threads: int,
                 processes: int = 1, on_result=None) -> list[EpisodeResult]:
    """Evaluate the (task, setting, seed) `jobs`, in this process or spread over `processes`
    worker processes (each builds its own runner from `runner_args`, the `build_runner` keywords);
    results in the order of `jobs`. Episodes are lockstep and seeded, so the split does not change
    them. `on_result(result)` is called as each one finishes (progress)."""
    if processes <= 1:
        _init_worker(runner_args, threads)
        out = []
        for job in jobs:
            out.append(_run_job((job, with_expert)))
            if on_result:
                on_result(out[-1])
        return out
    import multiprocessing as mp
    results: list[EpisodeResult | None] = [None] * len(jobs)
    # spawn: a fresh interpreter per worker (no forked torch threads or GL contexts)
    pool = mp.get_context("spawn").Pool(processes, initializer=_init_worker, initargs=(runner_args, threads))
    try:
        for i, r in pool.imap_unordered(_run_indexed, [(i, job, with_expert) for i, job in enumerate(jobs)]):
            results[i] = r
            if on_result:
                on_result(r)
        pool.close()    # workers exit on their own (terminating them leaks their semaphores)
    finally:
        if any(r is None for r in results):   # an episode raised: stop the others
            pool.terminate()
        pool.join()
    return results


_RUNNER: LockstepEpisode | None = None


def _init_worker(runner_args: dict, threads: int) -> None:
    import torch
    global _RUNNER
    torch.set_num_threads(threads)
    _RUNNER = build_runner(**runner_args)[0]


def _run_job(item) -> EpisodeResult:
    (task, setting, seed), with_expert = item
    r = _RUNNER.run(task, setting, seed)
    if with_expert:
        r.expert_success = expert_success(_RUNNER.world, task, setting, seed)
    return r


def _run_indexed(item) -> tuple[int, EpisodeResult]:
    i, job, with_expert = item
    return i, _run_job((job, with_expert))


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser (its --config files are checked against it by tests)."""
    p = argparse.ArgumentParser(prog="python -m gr2_bringup.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML file of option defaults (config/pick_cube/evaluate.yaml)")
    p.add_argument("--checkpoint", help="policy checkpoint folder")
    p.add_argument("--untrained-preset", default="", help="no checkpoint: a randomly initialised preset "
                                                          "(format checks only; it cannot solve tasks)")
    p.add_argument("--tasks", "--task", nargs="+", default=["pick_cube"],
                   help="task name(s) of gr2_drivers.sim.tasks.TASKS, or 'all'")
    p.add_argument("--settings", nargs="+", default=["simple"])
    p.add_argument("--episodes", type=int, default=50, help="episodes per task and setting")
    p.add_argument("--first-seed", type=int, default=None, help="default: gr2_drivers.sim.tasks.EVAL_FIRST_SEED")
    p.add_argument("--allow-training-seeds", action="store_true")
    p.add_argument("--max-time", type=float, default=15.0, help="s of simulated time per episode")
    p.add_argument("--delay", default="e2e", help="s from observation to chunk, or 'e2e' = frame->chunk p50 of "
                                                   "bench/results/e2e.json")
    p.add_argument("--switch-lead", default="e2e", help="s from a chunk at the WBC to its taking over, or 'e2e' = "
                                                         "chunk->first command p50 of bench/results/e2e.json")
    p.add_argument("--no-expert", action="store_true", help="do not run the scripted expert on the same seeds")
    p.add_argument("--out", default="bench/results/eval.json")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (per process)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes the episodes are spread over "
                                                       "(the episodes do not change)")
    return p


def main(argv: list[str] | None = None) -> int:
    """`python -m gr2_bringup.evaluate`: evaluate, print the table, write the JSON; exit 0."""
    from gr2_contract.config import parse_with_config
    p = build_parser()
    args = parse_with_config(p, argv)
    if not args.checkpoint and not args.untrained_preset:
        p.error("give --checkpoint DIR (or --untrained-preset NAME for a format check)")

    import torch
    from tqdm import tqdm

    from gr2_drivers.sim.tasks import EVAL_FIRST_SEED, TASKS
    from gr2_policy.checkpoint import fingerprint

    torch.set_num_threads(args.threads)
    first = EVAL_FIRST_SEED if args.first_seed is None else args.first_seed
    if first < EVAL_FIRST_SEED and not args.allow_training_seeds:
        p.error(f"--first-seed {first} is below EVAL_FIRST_SEED {EVAL_FIRST_SEED}: those layouts are training data")
    tasks = [args.tasks] if isinstance(args.tasks, str) else list(args.tasks)   # a config file's `task: NAME`
    tasks = list(TASKS) if tasks == ["all"] else tasks
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        p.error(f"unknown task(s) {unknown}; known: {sorted(TASKS)}")
    args.tasks = tasks
    runner_args = dict(checkpoint=args.checkpoint, untrained_preset=args.untrained_preset, task=tasks[0],
                       max_time=args.max_time, delay=args.delay, switch_lead=args.switch_lead)
    cfg = build_runner_config(args.delay, args.switch_lead)
    jobs = [(task, setting, seed) for task in tasks for setting in args.settings
            for seed in range(first, first + args.episodes)]
    bar = tqdm(total=len(jobs), desc="evaluate", unit="ep", dynamic_ncols=True)
    done: list[EpisodeResult] = []

    def progress(r: EpisodeResult) -> None:
        done.append(r)
        bar.update(1)
        bar.set_postfix(task=r.task, setting=r.setting, success=f"{sum(x.success for x in done)}/{len(done)}")

    t0 = time.monotonic()
    results = run_episodes(jobs, runner_args, not args.no_expert, args.threads, args.jobs, progress)
    bar.close()
    delay = cfg.delay
    rows = summarise(results)
    print(format_table(rows))
    settings = vars(args) | {"delay_s": delay, "switch_lead_s": cfg.switch_lead, "first_seed": first,
                             "wall_s": round(time.monotonic() - t0, 1)}
    ident = fingerprint(args.checkpoint) if args.checkpoint else {"untrained_preset": args.untrained_preset}
    write_results(args.out, "in_process", results, ident, settings,
                  argv=["python", "-m", "gr2_bringup.evaluate", *(sys.argv[1:] if argv is None else argv)])
    print(f"wrote {args.out} ({len(results)} episodes, {settings['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
