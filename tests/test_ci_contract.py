"""The CI contract: .ci/run runs exactly `make test`, and a run that collects no tests fails."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert "make test" in commands
    assert "set -euo pipefail" in commands
    assert "make test" in (ROOT / "README.md").read_text()


def test_pytest_collecting_nothing_is_a_failure(tmp_path):
    (tmp_path / "test_nothing_here.py").write_text("# no tests\n")
    run = subprocess.run([str(ROOT / "scripts" / "run_pytest.sh"), "-q", "-p", "no:cacheprovider",
                          "--rootdir", str(tmp_path), "-c", "/dev/null", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "collected no tests" in run.stderr


def test_pytest_failures_propagate(tmp_path):
    (tmp_path / "test_fails.py").write_text("def test_fails():\n    assert False\n")
    run = subprocess.run([str(ROOT / "scripts" / "run_pytest.sh"), "-q", "-p", "no:cacheprovider",
                          "--rootdir", str(tmp_path), "-c", "/dev/null", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
