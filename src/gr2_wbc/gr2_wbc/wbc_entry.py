"""Process entry point of the WBC node (`ros2 run gr2_wbc wbc_node`): blocks SIGINT/SIGTERM
before the node's imports start threads (see gr2_contract.shutdown_signals), then runs the node."""

from gr2_contract import shutdown_signals


def main(args=None) -> None:
    """Run the WBC node with SIGINT/SIGTERM blocked from the start (taken by its sigwait thread)."""
    shutdown_signals.block()
    from gr2_wbc import wbc_node
    wbc_node.main(args)


if __name__ == "__main__":
    main()
