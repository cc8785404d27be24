#!/usr/bin/env bash
# Run the test suite. pytest's exit code 5 ("no tests collected") is a failure here: a
# suite that silently runs nothing must never pass CI.
set -uo pipefail
python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "run_pytest: pytest collected no tests (exit 5): treating as failure" >&2
  exit 1
fi
exit "$rc"
