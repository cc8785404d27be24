"""The main() of a plain rclpy node of this stack: init, spin until Ctrl-C, clean up.

Kept in one place because of one rclpy quirk every node needs handled the same way: a SIGINT
can shut the context down while the executor is taking a message, and rclpy then raises a
RuntimeError from the take instead of ExternalShutdownException (found by the end-to-end test:
the sim exited 1 on Ctrl-C). Imports rclpy only when called, so gr2_contract stays ROS-free.
"""

from __future__ import annotations

from typing import Callable


def spin_until_shutdown(make_node: Callable[[], object], args=None) -> None:
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        if rclpy.ok():   # only an error while the context is still valid is a real failure
            raise
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
