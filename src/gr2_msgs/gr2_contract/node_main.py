"""The main() of a plain rclpy node of this stack: init, spin until Ctrl-C or SIGTERM, clean up.

Kept in one place because of one rclpy pitfall: with rclpy's own signal handling, Ctrl-C raises
KeyboardInterrupt wherever the main thread happens to be, also inside a message take, where it
surfaces as a RuntimeError ("Unable to convert call argument") while the context may still
look valid; the sim then exited 1 on Ctrl-C (end-to-end test, twice). Here SIGINT/SIGTERM only
set a flag that the spin loop checks, so shutdown always takes the same clean path.
Imports rclpy only when called, so gr2_contract stays ROS-free.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
from typing import Callable


def run_essential(node, name: str, loop: Callable[[], None], shutting_down: Callable[[], bool]) -> None:
    """Thread body for a node's essential loop (sim physics and cameras, WBC control and optimiser,
    policy inference): if it dies, the node must not go on as if it were fine. The error is logged
    with its traceback and stored in `node.fatal_error`; `spin_until_shutdown` then calls the
    node's `report_fatal()` (ERROR on /diagnostics or its status) and exits non-zero."""
    try:
        loop()
    except BaseException as err:  # noqa: BLE001 - any death of an essential loop is reported
        if shutting_down():
            return
        node.fatal_error = f"essential thread {name} died: {err!r}"
        try:
            node.get_logger().fatal(f"{node.fatal_error}\n{traceback.format_exc()}")
        except Exception:  # noqa: BLE001 - the logger may be gone at shutdown
            print(node.fatal_error, file=sys.stderr)


def make_executor(context=None):
    """The executor of the sim, WBC and policy nodes and the demo monitor: rclpy's EventsExecutor
    (rclpy.experimental; a C++ event queue), not SingleThreadedExecutor, which rebuilds its wait
    set in Python for every callback. Not for nodes that create subscriptions after being added
    to it (the recorder, the Kinova and RealSense drivers stay on rclpy.spin): a probe showed
    such a subscription never receives. Measured with bench/joint_state_gaps.py (sim + WBC + policy, 2 cores, the
    same run otherwise): the WBC's executor thread 27% -> 10% of a core at 250 joint states/s,
    the sim's 17% -> 6% at 200 joint commands/s, the policy's 23% -> 8%; all nodes 194% -> 160%;
    /joint_states gaps > 100 ms in 30 s 14 -> 1, 211 -> 240 Hz."""
    from rclpy.experimental import EventsExecutor
    return EventsExecutor(context=context)


def _stop_on_signals(stop: threading.Event) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())


FATAL_REPORT_PERIOD_S = 0.2
FATAL_REPORT_MIN_S = 1.0   # the report repeats at least this long ...
FATAL_REPORT_MAX_S = 5.0   # ... and, until two reports went out to a matched subscriber, up to this


def _report_fatal(node, reason: str, spin_once, stopped: Callable[[], bool] = lambda: False) -> None:
    """The node's report_fatal() (which returns its publisher) every 0.2 s, for a second and then
    until two reports went out while a subscriber was matched, at most 5 s, or until `stopped()`:
    a node failing at start-up exits before a monitor's discovery has matched it on a loaded
    machine, and a reliable publisher delivers only to the subscribers matched when it publishes.
    `spin_once(timeout_sec)` serves the node meanwhile (it may return after any one callback)."""
    if not hasattr(node, "report_fatal"):
        return
    start = time.monotonic()
    next_report, heard, publisher = start, 0, None
    while not stopped():
        now = time.monotonic()
        if now >= next_report:
            matched = publisher is not None and publisher.get_subscription_count() > 0
            if now - start >= FATAL_REPORT_MAX_S or (now - start >= FATAL_REPORT_MIN_S
                                                     and (heard >= 2 or publisher is None)):
                return
            publisher = node.report_fatal(reason)
            heard += matched
            next_report += FATAL_REPORT_PERIOD_S
        spin_once(timeout_sec=max(0.0, next_report - time.monotonic()))


def spin_plain(node) -> int:
    """Spin `node` with rclpy's default executor (nodes that create subscriptions after start-up:
    the drivers) until shutdown or a dead essential thread (run_essential); 1 after the latter."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    while rclpy.ok():
        rclpy.spin_once(node, timeout_sec=0.1)
        fatal = getattr(node, "fatal_error", None)
        if fatal:
            try:   # exit 1 also when Ctrl-C or a shutdown ends the report
                _report_fatal(node, fatal, lambda timeout_sec: rclpy.spin_once(node, timeout_sec=timeout_sec),
                              stopped=lambda: not rclpy.ok())
            except (KeyboardInterrupt, ExternalShutdownException):
                pass
            return 1
    return 0


def spin_until_shutdown(make_node: Callable[[], object], args=None,
                        watch_signals: Callable[[threading.Event], object] = _stop_on_signals) -> None:
    """Spin `make_node()` until SIGINT/SIGTERM set the stop flag (`watch_signals` arranges that:
    Python handlers by default; the WBC takes them with sigwait), then destroy it."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.signals import SignalHandlerOptions

    stop = threading.Event()
    watch_signals(stop)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    fatal = None
    try:
        node = make_node()
        executor = make_executor()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
            fatal = getattr(node, "fatal_error", None)
            if fatal:
                _report_fatal(node, fatal, executor.spin_once, stopped=lambda: stop.is_set() or not rclpy.ok())
                break
    except ExternalShutdownException:
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    if fatal:
        sys.exit(1)
