"""Record camera frames + EE states from the MuJoCo simulation as episodes of the stack's one
episode format (gr2_contract.episode, documented in src/gr2_drivers/SIM.md).

Why: the VQGAN must be trained on in-domain frames (paper sec. 2.1), and the only in-domain
source on this machine is the sim. The arm follows smooth random joint-space motions around
home with random gripper toggles in a task's scene: not task demonstrations (those come from
the sim dataset generator or recordings), but real renders with consistent EE poses.
`gr2-model train-vqgan --episodes DIR` reads them (`gr2_policy.data.SimDatasetReader`), as it
reads every other dataset. Each episode's instruction is "move the arm" and its labels are the
motion itself: action_ee_pose is the TCP pose the command issued after frame t reached at the
next frame, action_gripper that command's gripper value; meta.json says `"expert":
"random_joint_motion"`, and `success` is true in that sense (the episode does what its
instruction says), not the scene task's success. It lives in gr2_bringup, beside the other tools
that drive the sim for the policy (DAgger, the evaluators).

    python -m gr2_bringup.sim_frames --out data/sim_frames --episodes 12 --steps 40 --size 64
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gr2_contract.episode import STREAMS, stack_streams, stream_shapes, write_episode

INSTRUCTION = "move the arm"
EXPERT = "random_joint_motion"


def record_episode(world, rng, steps: int, size: int, substeps: int, task: str,
                   setting: str) -> tuple[dict, dict[str, np.ndarray]]:
    """One episode of `steps` frames in (task, setting, a seed from `rng`): smooth random joint
    motion around home with random gripper toggles, `substeps` physics steps between frames, both
    cameras at `size` x `size` px. Returns (meta, streams) as gr2_contract.episode.write_episode takes them."""
    from gr2_drivers.sim.dataset import record_observation
    from gr2_drivers.sim.tasks import TASKS
    task = task or str(rng.choice(sorted(TASKS)))
    seed = int(rng.integers(1 << 30))
    world.reset(task, setting=setting, seed=seed)
    home = world.joint_positions()
    amp, freq, phase = rng.uniform(0.05, 0.35, 7), rng.uniform(0.2, 0.8, 7), rng.uniform(0, 2 * np.pi, 7)
    dt = world.config.timestep * substeps
    streams: dict[str, list] = {k: [] for k in STREAMS}
    grip = 0.0
    for i in range(steps):
        record_observation(world, streams, size, size)        # frame i
        t = (i + 1) * dt                                       # the command issued after frame i
        q = np.clip(home + amp * np.sin(2 * np.pi * freq * t + phase) - amp * np.sin(phase),
                    world.lower + 1e-3, world.upper - 1e-3)
        world.set_joint_command(q)
        if rng.random() < 0.08:
            grip = 1.0 - grip
        world.set_gripper(grip)
        world.step(substeps)
        pos, quat = world.ee_pose()                            # where it took the TCP: frame i's action
        streams["action_ee_pose"].append(np.concatenate([pos, quat]))
        streams["action_gripper"].append(grip)
    arrays = stack_streams(streams)
    meta = {"instruction": INSTRUCTION, "task": task, "skill": world.task.skill if world.task else "",
            "setting": setting, "seed": seed, "success": True, "expert": EXPERT, "fps": 1.0 / dt,
            "frames": steps, "image_size": [size, size], "streams": stream_shapes(arrays)}
    return meta, arrays


def main(argv=None) -> int:
    """Record `--episodes` sim episodes into the dataset `--out` (index.jsonl + one directory per
    episode, gr2_contract.episode); returns 0."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--episodes", type=int, default=12)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--substeps", type=int, default=50, help="physics steps per recorded sample (0.1 s)")
    p.add_argument("--task", default="", help="task name (default: random per episode)")
    p.add_argument("--settings", default="simple,distractor,unseen_background,cluttered")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from gr2_drivers.sim.world import World
    out = Path(args.out)
    if (out / "index.jsonl").exists():
        p.error(f"{out} already holds a dataset (index.jsonl); give a new --out")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    world = World()
    settings = args.settings.split(",")
    for e in range(args.episodes):
        meta, streams = record_episode(world, rng, args.steps, args.size, args.substeps, args.task,
                                       settings[e % len(settings)])
        path = write_episode(out, meta, streams)
        print(f"episode {e}: {meta['frames']} frames, {meta['task']} ({meta['setting']}) -> {path.name}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
