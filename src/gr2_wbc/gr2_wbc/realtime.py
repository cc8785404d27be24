"""Real-time scheduling for the calling thread (ROS-free; used by the node and the benchmark)."""

from __future__ import annotations

import os


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
