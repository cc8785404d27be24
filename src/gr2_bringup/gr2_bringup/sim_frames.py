"""Record camera frames + EE states from the MuJoCo simulation as `*.npz` episodes.

Why: the VQGAN must be trained on in-domain frames (paper sec. 2.1), and the only in-domain
source on this machine is the sim. The arm follows smooth random joint-space motions around
home with random gripper toggles: not task demonstrations (those come from the sim/recording
pipeline), but real renders with consistent EE poses, in the format `gr2_policy.data.NpzEpisodeReader`
reads. It lives in gr2_bringup, beside the other tools that drive the sim for the policy
(DAgger, the evaluators), because the policy package must not import the simulator.

    python -m gr2_bringup.sim_frames --out data/sim_frames --episodes 12 --steps 40 --size 64
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gr2_policy.data import Episode, write_npz_episode
from gr2_policy.model_input import gripper_closure


def record_episode(world, rng, steps: int, size: int, substeps: int, task: str, setting: str) -> Episode:
    """One episode of `steps` samples: smooth random joint motion around home with random gripper
    toggles, every `substeps` physics steps both cameras at `size` x `size` px and the TCP pose."""
    from gr2_drivers.sim.tasks import TASKS
    instruction = world.reset(task or str(rng.choice(sorted(TASKS))), setting=setting, seed=int(rng.integers(1 << 30)))
    home = world.joint_positions()
    amp, freq, phase = rng.uniform(0.05, 0.35, 7), rng.uniform(0.2, 0.8, 7), rng.uniform(0, 2 * np.pi, 7)
    dt = world.config.timestep * substeps
    views = world.camera_names()
    frames = {v: [] for v in views}
    pos, quat, closed, cmd = [], [], [], []
    grip = 0.0
    for i in range(steps):
        t = i * dt
        q = np.clip(home + amp * np.sin(2 * np.pi * freq * t + phase) - amp * np.sin(phase),
                    world.lower + 1e-3, world.upper - 1e-3)
        world.set_joint_command(q)
        if rng.random() < 0.08:
            grip = 1.0 - grip
        world.set_gripper(grip)
        world.step(substeps)
        for v in views:
            frames[v].append(world.render(v, size, size))
        p, o = world.ee_pose()
        pos.append(p)
        quat.append(o)
        cmd.append(grip)
        closed.append(gripper_closure(world.gripper_position()))
    return Episode(instruction=instruction or "move the arm", frames={v: np.stack(f) for v, f in frames.items()},
                   ee_position=np.array(pos, np.float32), ee_quaternion=np.array(quat, np.float32),
                   gripper_closure=np.array(closed, np.float32), gripper_command=np.array(cmd, np.float32), dt=dt)


def main(argv=None) -> int:
    """Record `--episodes` sim episodes into `--out` as episode_NNNN.npz files; returns 0."""
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
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    world = World()
    settings = args.settings.split(",")
    for e in range(args.episodes):
        ep = record_episode(world, rng, args.steps, args.size, args.substeps, args.task, settings[e % len(settings)])
        write_npz_episode(out / f"episode_{e:04d}.npz", ep)
        print(f"episode {e}: {ep.length} steps, {ep.instruction!r}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
