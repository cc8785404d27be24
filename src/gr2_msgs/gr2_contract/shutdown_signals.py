"""SIGINT/SIGTERM for a process that runs OSQP in several threads. ROS-free, imports nothing heavy.

OSQP's C library swaps in its own SIGINT handler around every solve and keeps the one it
replaced in a single static variable; with solves in two threads (the 200 Hz QP and the chunk
optimiser) the swaps interleave, OSQP's handler can stay installed, and a Ctrl-C is swallowed:
a WBC node ignored SIGINT this way while chunks were streaming. So the node does not rely on
handlers: both signals are blocked in every thread and one thread takes them with sigwait,
where no handler, OSQP's or Python's, is involved.

The mask must be set before anything starts a thread: importing numpy (OpenBLAS) or rclpy
does, and a thread that leaves the signals unblocked would receive them through whatever
handler is installed. Hence `block()` first thing in the process's entry point.
"""

from __future__ import annotations

import signal
import threading

SHUTDOWN_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def block() -> None:
    """Block SIGINT/SIGTERM in the calling thread and so in every thread it creates afterwards."""
    signal.pthread_sigmask(signal.SIG_BLOCK, SHUTDOWN_SIGNALS)


def watch(stop: threading.Event) -> threading.Thread:
    """Set `stop` when SIGINT or SIGTERM arrives (blocked signals, taken synchronously)."""
    block()

    def wait() -> None:
        signal.sigwait(SHUTDOWN_SIGNALS)
        stop.set()

    thread = threading.Thread(target=wait, name="shutdown-signals", daemon=True)
    thread.start()
    return thread
