"""One DAgger round (Ross et al. 2011): roll out the policy, label every visited state with the
expert, write the rollouts as a SIM.md dataset for the next fine-tuning.

    python -m gr2_bringup.dagger --config config/pick_cube/dagger.yaml
    python -m gr2_bringup.dagger --checkpoint runs/pick_cube/finetune/ckpt --task pick_cube \\
        --settings simple distractor --episodes 150 --first-seed 5000 --out data/pick_cube/dagger1

Rollouts run in the in-process evaluator (`evaluate.LockstepEpisode`: sim, policy and the WBC's
controller in lockstep, the nodes' code). Every 1/fps s of sim time the frames (the sim node's
size), joints, gripper and TCP pose are recorded, and the label is the state-feedback expert's
target from that state (`ScriptedExpert.relabel`, i.e. `Task.replan`), and the expert's plan from
that state as the k-step chunk label (`relabel_chunk`; `--no-chunk-labels` leaves it out): where
the policy went wrong the label says how to recover. Every rollout is kept (index rows carry `relabelled: true`,
`success` is the rollout's own outcome), so failed rollouts, the most useful ones, are trained on.
Seeds must lie below the evaluation seeds.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser (its --config files are checked against it by tests)."""
    p = argparse.ArgumentParser(prog="python -m gr2_bringup.dagger", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML file of option defaults (config/pick_cube/dagger.yaml)")
    p.add_argument("--checkpoint")
    p.add_argument("--task", default="pick_cube")
    p.add_argument("--settings", nargs="+", default=["simple"])
    p.add_argument("--episodes", type=int, default=100, help="rollouts per setting")
    p.add_argument("--first-seed", type=int, default=5000)
    p.add_argument("--out")
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--max-time", type=float, default=10.0, help="s of simulated time per rollout")
    p.add_argument("--delay", default="e2e", help="s from observation to chunk, or 'e2e' (see evaluate)")
    p.add_argument("--switch-lead", default="e2e", help="s from a chunk at the WBC to its taking over, or 'e2e'")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--layouts", default="all",
                   help="roll out only in layouts this named predicate accepts (gr2_drivers.sim.tasks.LAYOUT_FILTERS: "
                        "all, neighbour_hue_cube, neighbour_hue_any); seeds it rejects are skipped")
    p.add_argument("--chunk-labels", action=argparse.BooleanOptionalAction, default=True,
                   help="also record the expert's k-step plan from every visited state (the policy's chunk "
                        "size, 1/fps apart) as the chunk label (gr2_contract.episode CHUNK_STREAMS)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one DAgger round as the module docstring describes; returns the exit code."""
    from gr2_contract.config import parse_with_config
    p = build_parser()
    args = parse_with_config(p, argv, required=("checkpoint", "out"))

    import torch
    from tqdm import tqdm

    from gr2_contract.episode import CHUNK_STREAMS, STREAMS, stack_streams, stream_shapes, write_episode
    from gr2_drivers.sim.dataset import record_state
    from gr2_drivers.sim.expert import ScriptedExpert
    from gr2_drivers.sim.tasks import EVAL_FIRST_SEED, LAYOUT_FILTERS
    from gr2_policy.checkpoint import fingerprint

    from .evaluate import build_runner

    torch.set_num_threads(args.threads)
    if args.layouts not in LAYOUT_FILTERS:
        p.error(f"--layouts {args.layouts!r}: one of {', '.join(LAYOUT_FILTERS)}")
    accept = LAYOUT_FILTERS[args.layouts]
    last_seed = args.first_seed + args.episodes * len(args.settings)
    if last_seed > EVAL_FIRST_SEED:
        p.error(f"seeds up to {last_seed} reach the evaluation seeds (>= {EVAL_FIRST_SEED})")
    runner, cfg = build_runner(args.checkpoint, "", args.task, args.max_time, args.delay, args.switch_lead)
    world, size = runner.world, cfg.image_size
    k = runner.policy.model.config.chunk_size
    out = Path(args.out)
    ident = fingerprint(args.checkpoint)
    bar = tqdm(total=args.episodes * len(args.settings), desc="dagger", unit="ep", dynamic_ncols=True)
    seed, ok, n, t0 = args.first_seed, 0, 0, time.monotonic()
    for setting in args.settings:
        for _ in range(args.episodes):
            world.reset(args.task, setting, seed)
            while not accept(world.task):
                seed += 1
                world.reset(args.task, setting, seed)
            if seed >= EVAL_FIRST_SEED:
                p.error(f"seed {seed} reached the evaluation seeds (>= {EVAL_FIRST_SEED})")
            streams: dict[str, list] = {k: [] for k in (*STREAMS, *(CHUNK_STREAMS if args.chunk_labels else ()))}
            expert = ScriptedExpert(world)

            def record(t: float, gripper_command: float) -> None:
                # runner.run below calls it within this episode: this episode's expert and streams
                # one plan per state: the chunk label's first target is the step label
                chunk = expert.relabel_chunk(gripper_command, k, 1.0 / args.fps) if args.chunk_labels else None  # noqa: B023
                label = chunk[0] if chunk else expert.relabel(gripper_command)  # noqa: B023
                record_state(world, label, streams, *size, chunk=chunk)  # noqa: B023

            result = runner.run(args.task, setting, seed, on_record=record, record_period=1.0 / args.fps)
            arrays = stack_streams(streams)
            meta = {"instruction": result.instruction, "task": args.task, "skill": world.task.skill,
                    "setting": setting, "seed": seed, "success": bool(result.success), "fps": args.fps,
                    "frames": len(arrays["joint_pos"]), "image_size": [size[1], size[0]], "relabelled": True,
                    "policy": ident, "layouts": args.layouts, "streams": stream_shapes(arrays)}
            write_episode(out, meta, arrays)
            ok += result.success
            n += 1
            seed += 1
            bar.update(1)
            bar.set_postfix(setting=setting, policy_success=f"{ok}/{n}")
    bar.close()
    print(f"{n} relabelled rollouts in {out} ({ok} successful) in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
