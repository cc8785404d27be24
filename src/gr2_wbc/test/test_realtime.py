"""Ctrl-C must stop the node even when it lands inside an OSQP solve."""

import os
import signal
import threading
import time

import numpy as np
import osqp
import pytest
from scipy import sparse

from gr2_contract.realtime import OSQP_SIGINT, forward_osqp_interrupt


def slow_qp() -> osqp.OSQP:
    """A QP that takes OSQP ~0.4 s per solve at these tolerances (without warm start)."""
    rng = np.random.default_rng(0)
    n = 1500
    A = sparse.random(2 * n, n, density=0.002, random_state=rng, format="csc") + \
        sparse.vstack([sparse.eye(n), sparse.eye(n)]).tocsc()
    solver = osqp.OSQP()
    solver.setup(sparse.eye(n, format="csc"), np.ones(n), A, -np.ones(2 * n), np.ones(2 * n),
                 verbose=False, max_iter=10**7, eps_abs=1e-12, eps_rel=1e-12, polishing=False,
                 warm_starting=False)
    return solver


def test_sigint_during_an_osqp_solve_reaches_the_python_handler():
    assert int(osqp.SolverStatus.OSQP_SIGINT) == OSQP_SIGINT
    solver = slow_qp()
    got = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: got.set())
    try:
        result = {}

        def solve():   # solve again and again, so the signal surely lands inside a solve
            while "status" not in result or result["status"] != OSQP_SIGINT and not got.is_set():
                result["status"] = solver.solve(raise_error=False).info.status_val
                forward_osqp_interrupt(result["status"])

        worker = threading.Thread(target=solve)
        worker.start()
        time.sleep(0.15)                       # inside a solve: OSQP's handler is installed
        os.kill(os.getpid(), signal.SIGINT)
        worker.join(timeout=30)
        deadline = time.monotonic() + 2.0
        while not got.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)                   # Python runs signal handlers in the main thread
        assert result["status"] == OSQP_SIGINT  # OSQP took the signal...
        assert got.is_set()                    # ...and it was handed on to the process
    finally:
        signal.signal(signal.SIGINT, previous)


def test_deadline_loop_counts_misses_and_realigns_after_an_overrun():
    from gr2_contract.realtime import DeadlineLoop
    loop = DeadlineLoop(0.005)
    d0 = loop.deadline
    assert not loop.finished(d0 + 0.001)                  # on time
    assert loop.deadline == pytest.approx(d0 + 0.005)
    assert loop.finished(d0 + 0.005 + 0.0123)             # 12.3 ms past the next deadline: a miss
    assert loop.misses == 1
    # next deadline: the first period boundary after the overrun, not a burst of old deadlines
    assert loop.deadline == pytest.approx(d0 + 0.020)
