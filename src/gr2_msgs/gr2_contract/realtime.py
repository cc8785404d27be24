"""Real-time scheduling for the calling thread, absolute-deadline loop timing, and Ctrl-C
through OSQP (ROS-free; used by the WBC node and core, the sim and Kinova nodes, the benchmark)."""

from __future__ import annotations

import math
import os
import signal
import time


def set_fifo_priority(priority: int) -> str | None:
    """Put the calling thread under SCHED_FIFO at `priority` (Linux; needs root, CAP_SYS_NICE or
    an rtprio limit), so a periodic control loop preempts ordinary processes. Threads created
    afterwards by this thread inherit the policy. Returns None on success or when `priority`
    is 0 (disabled), else why it could not be done."""
    if priority <= 0:
        return None
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (PermissionError, OSError, AttributeError) as err:
        return str(err)
    return None


def fifo_or_warn(priority: int, logger, what: str) -> None:
    """set_fifo_priority for the calling thread (`what` names it in the log): info when it holds,
    a warning when the host does not permit it, nothing when `priority` is 0."""
    error = set_fifo_priority(priority)
    if error:
        logger.warn(f"{what} stays at normal priority: SCHED_FIFO {priority} not available ({error})")
    elif priority > 0:
        logger.info(f"{what} at SCHED_FIFO priority {priority}")


# Why a real-time node's other Python threads are real-time too (`support_priority`, below the
# periodic thread's): every thread of the process shares the GIL. An executor thread at normal
# priority that an ordinary process preempts while it holds the GIL stalls the real-time thread
# until the scheduler gets back to it (priority inversion). Measured with `make demo` (2 cores,
# 20 s, two runs each): WBC executor and optimiser at normal priority 168-171 cycles/s, cycle p99
# 4.4-10.3 ms, 705-763 deadline misses; executor at SCHED_FIFO 40 and optimiser at 30: 198
# cycles/s, p99 3.0-3.1 ms, 39-74 misses. The WBC now runs its executor and chunk thread at
# `support_priority` 40; the optimisation itself has left the process (optimiser_process.py).


OSQP_SIGINT = 10   # osqp.SolverStatus.OSQP_SIGINT


def forward_osqp_interrupt(status_val: int) -> None:
    """OSQP's C library installs its own SIGINT handler around every solve, so a Ctrl-C that
    lands inside a solve is taken by OSQP (the solve returns OSQP_SIGINT) and never reaches the
    node, which then keeps running. Hand the signal on to the process."""
    if status_val == OSQP_SIGINT:
        os.kill(os.getpid(), signal.SIGINT)


class DeadlineLoop:
    """Absolute-deadline timing of a periodic loop (the 200 Hz control loop and its benchmark):
    deadlines are k * period from the start, so the period does not drift with the cycle's
    time; a cycle that finishes more than one period after its deadline is a miss, and after
    an overrun the next deadline is the next period boundary (no burst of catch-up cycles)."""

    def __init__(self, period: float):
        self.period = period
        self.deadline = time.monotonic() + period
        self.misses = 0

    def wait(self) -> float:
        """Sleep until the next deadline; returns it (time.monotonic)."""
        delay = self.deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return self.deadline

    def finished(self, done: float) -> bool:
        """The cycle finished at `done`; True if it missed its deadline by a whole period."""
        missed = done > self.deadline + self.period
        self.misses += missed
        self.deadline += self.period
        if done > self.deadline:
            self.deadline += math.ceil((done - self.deadline) / self.period) * self.period
        return missed
