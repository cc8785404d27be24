"""The chunk trajectory optimisation in a child process. ROS-free.

Why a process and not a thread: OSQP's Python binding keeps the GIL through every solve, so a
chunk optimised in a thread of the controller's process stalls the 200 Hz loop for as long as
its solves take. Measured once (session 4, a script not kept in the repo) with a thread
optimising chunks back to back: the other thread of the process saw 272-339 pauses over 1 ms
in 3 s, up to 12 ms (one solve up to 16 ms on this loaded 2-core VM). In a process of its own
the solves share no lock with the loop; the caller (the node's chunk thread) waits on a socket,
which releases the GIL.

The child is a fresh interpreter (`python -m gr2_wbc.optimiser_process`, never a fork of a
process that runs DDS threads, and not multiprocessing's spawn, which re-imports the caller's
main script), talks over a socket pair with multiprocessing's pickling Connection, blocks
SIGINT/SIGTERM (a Ctrl-C in the terminal is the controller's to handle) and exits when the
socket closes, so it cannot outlive its controller.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import traceback
from multiprocessing.connection import Connection

from gr2_contract import shutdown_signals
from gr2_contract.realtime import set_fifo_priority
from gr2_wbc.trajectory import (
    ChunkData,
    ChunkRejected,
    Reference,
    ReferenceSample,
    TrajectoryConfig,
    TrajectoryOptimizer,
)


def _serve(conn: Connection) -> None:
    shutdown_signals.block()
    config, priority = conn.recv()
    # Scheduling of its own, whatever the starting thread had: SCHED_FIFO `priority`, or normal.
    if priority > 0:
        error = set_fifo_priority(priority)
    else:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        error = None
    optimizer = TrajectoryOptimizer(config)
    conn.send(("ready", error))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        try:
            conn.send(("ok", optimizer.optimize(*request)))
        except ChunkRejected as err:
            conn.send(("rejected", str(err)))
        except Exception:   # noqa: BLE001 - handed to the caller with its traceback
            conn.send(("error", traceback.format_exc()))


class OptimiserProcess:
    """TrajectoryOptimizer.optimize, run in a child process; same call, same result (failures
    come back as ChunkRejected). A child that died is replaced at the next chunk, which is
    rejected with the reason; the arm holds its reference meanwhile, as for any rejected chunk."""

    def __init__(self, config: TrajectoryConfig, priority: int = 0, start_timeout: float = 60.0):
        """`priority`: SCHED_FIFO priority of the child (0: normal scheduling). Chunks wait for it
        between arriving and taking over, so on a busy host it should be real-time too (below
        the control loop); `priority_error` says why that was not possible, if it was not."""
        self._config, self._priority, self._start_timeout = config, priority, start_timeout
        self._lock = threading.Lock()
        self._closed = False
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen([sys.executable, "-m", __name__, str(theirs.fileno())],
                                         pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        self._conn = Connection(ours.detach())
        self._conn.send((self._config, self._priority))
        if not self._conn.poll(self._start_timeout):
            self.close()
            raise RuntimeError(f"the trajectory optimiser process did not start within {self._start_timeout:.0f} s")
        try:
            _, self.priority_error = self._conn.recv()
        except EOFError as err:
            raise RuntimeError(f"the trajectory optimiser process exited at start "
                               f"(exit code {self._process.wait()})") from err

    def optimize(self, chunk: ChunkData, t_switch: float, start: ReferenceSample) -> Reference:
        with self._lock:
            if self._closed:
                raise ChunkRejected("the trajectory optimiser is closed")
            try:
                self._conn.send((chunk, t_switch, start))
                kind, value = self._conn.recv()
            except (EOFError, OSError) as err:
                self._conn.close()
                try:
                    code = self._process.wait(1.0)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    code = self._process.wait()
                try:
                    self._start()
                except RuntimeError as start_error:
                    raise ChunkRejected(f"the trajectory optimiser process is gone (exit code {code}) "
                                        f"and could not be restarted: {start_error}") from err
                self.restarts += 1
                raise ChunkRejected(f"the trajectory optimiser process was gone (exit code {code}); "
                                    f"started a new one ({self.restarts} so far)") from err
        if kind == "ok":
            return value
        if kind == "rejected":
            raise ChunkRejected(value)
        raise ChunkRejected(f"trajectory optimisation failed in the optimiser process:\n{value}")

    def close(self, timeout: float = 2.0) -> None:
        """End the child (idempotent)."""
        self._closed = True
        if self._process.poll() is None:
            try:
                self._conn.send(None)
            except (OSError, ValueError):
                pass
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._conn.close()


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
