"""Success rate of the scripted expert per task and setting over seeded episodes (lockstep).

    python -m gr2_drivers.sim.evaluate_expert --episodes 20 --settings simple distractor

Prints a Markdown table (the one in SIM.md) and the wall time per episode. ROS-free.
"""

from __future__ import annotations

import argparse
import time

from .expert import ScriptedExpert
from .tasks import SETTINGS, TASKS
from .world import World, load_sim_config


def evaluate(tasks: list[str], settings: list[str], episodes: int, first_seed: int = 0) -> dict:
    """Run the expert on `episodes` seeds per task and setting; {(task, setting): (ok, n, s/episode, failed seeds)}."""
    world = World(load_sim_config())  # the cameras and physics of config/sim.yaml
    results = {}
    for task in tasks:
        for setting in settings:
            ok, t0 = 0, time.monotonic()
            failed = []
            for seed in range(first_seed, first_seed + episodes):
                world.reset(task, setting, seed)
                if ScriptedExpert(world).run():
                    ok += 1
                else:
                    failed.append(seed)
            results[(task, setting)] = (ok, episodes, (time.monotonic() - t0) / episodes, failed)
    return results


def main(argv: list[str] | None = None) -> None:
    """Print the expert's success table (Markdown) for the tasks and settings given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--settings", nargs="*", default=["simple"], choices=SETTINGS)
    args = parser.parse_args(argv)
    results = evaluate(args.tasks, args.settings, args.episodes, args.first_seed)
    print("| task | " + " | ".join(args.settings) + " |")
    print("|---|" + "---|" * len(args.settings))
    for task in args.tasks:
        cells = []
        for setting in args.settings:
            ok, n, sec, failed = results[(task, setting)]
            cells.append(f"{ok}/{n} ({sec:.2f} s/ep)" + (f" failed seeds {failed}" if failed else ""))
        print(f"| {task} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
