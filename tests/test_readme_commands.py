"""Every command the README and the package docs show runs as written after `source env.sh`:
each program (and subcommand) answers --help, and every --option the docs give it is one its
--help lists. (Commands are run with --help, not for real: they train, record or drive a robot.)"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "src").glob("*/*.md")), *sorted((ROOT / "src").glob("*/README.md"))]
PROGRAM = re.compile(r"^(gr2-(model|up|bag)\b|python -m gr2_[a-z0-9_.]+|python bench/[a-z_]+\.py)")
# Not command-line tools: ROS nodes started by the launch files, a child process of the WBC.
NOT_CLIS = ("gr2_drivers.sim_node", "gr2_wbc.optimiser_process")
SUBCOMMANDS = {"gr2-model", "gr2-bag", "python -m gr2_policy.train", "python -m gr2_bringup.bag.cli",
               "python -m gr2_bringup.lerobot_dataset"}


def _doc_commands() -> list[str]:
    lines = []
    for doc in DOCS:
        text = doc.read_text()
        fenced = r"```[a-z]*\n(.*?)```"
        for block in re.findall(fenced, text, flags=re.S):
            lines += block.splitlines()
        # Inline code may wrap over lines in the source (it renders as one line): join it.
        prose = re.sub(fenced, "", text, flags=re.S)
        lines += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
        lines += [line.strip() for line in text.splitlines() if line.startswith("    ")]   # indented blocks
    return [line.strip().rstrip("&").strip() for line in lines if PROGRAM.match(line.strip())]


def _programs() -> dict[tuple[str, ...], set[str]]:
    found: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for line in _doc_commands():
        line = line.split("#")[0].split("|")[0]
        try:
            tokens = shlex.split(line)
        except ValueError:
            continue
        n = 3 if tokens[0] == "python" and tokens[1] == "-m" else 2 if tokens[0] == "python" else 1
        prog = tokens[:n]
        if any(m in " ".join(prog) for m in NOT_CLIS):
            continue
        rest = tokens[n:]
        if " ".join(prog) in SUBCOMMANDS and rest and re.fullmatch(r"[a-z][a-z-]+", rest[0]):
            prog, rest = prog + rest[:1], rest[1:]
        found[tuple(prog)] |= {t.split("=")[0] for t in rest if t.startswith("--") and len(t) > 2}
    return found


PROGRAMS = _programs()


def test_the_docs_show_the_main_tools():
    names = {" ".join(p) for p in PROGRAMS}
    for expected in ("gr2-model finetune", "gr2-up", "gr2-bag info", "python -m gr2_bringup.evaluate"):
        assert expected in names, sorted(names)


@pytest.mark.parametrize("program", sorted(PROGRAMS), ids=lambda p: " ".join(p))
def test_documented_command_runs_as_written(program):
    cmd = " ".join(shlex.quote(t) for t in program) + " --help"
    out = subprocess.run(["bash", "-c", f"source ./env.sh && {cmd}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"{cmd}: {out.stderr[-1500:]}"
    missing = [o for o in PROGRAMS[program] if o not in out.stdout and o != "--ros-args"]
    assert not missing, f"{' '.join(program)} --help does not list {missing}"
