"""gr2_contract.node_main's fatal report (ROS-free: a fake clock, node and publisher)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gr2_contract import node_main


def _report(monkeypatch, matched_at: float | None, callback_every: float, stop_at: float | None = None):
    """Run _report_fatal with a publisher matched from `matched_at` (None: never) and a spin_once
    that returns after a callback every `callback_every` s; (report times, end time)."""
    clock = [0.0]
    monkeypatch.setattr(node_main, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    reports: list[float] = []

    class Publisher:
        def get_subscription_count(self):
            return int(matched_at is not None and clock[0] >= matched_at - 1e-9)

    class Node:
        def report_fatal(self, reason):
            reports.append(clock[0])
            return Publisher()

    def spin_once(timeout_sec):
        clock[0] += max(min(timeout_sec, callback_every), 1e-9)   # a real clock always advances

    node_main._report_fatal(Node(), "died", spin_once,
                            stopped=lambda: stop_at is not None and clock[0] >= stop_at)
    return reports, clock[0]


@pytest.mark.parametrize("matched_at, stops_at", [(0.0, 1.0), (2.0, 2.4), (None, 5.0)])
@pytest.mark.parametrize("callback_every", [0.2, 0.004])
def test_a_fatal_report_repeats_every_0_2_s_until_a_subscriber_has_heard_it(monkeypatch, matched_at, stops_at,
                                                                          callback_every):
    """A node failing at start-up may exit before a monitor's discovery matched it: the report
    repeats every 0.2 s (also when callbacks wake the spin far more often) until two reports
    went out to a matched subscriber, 1 s at least, 5 s at most."""
    reports, end = _report(monkeypatch, matched_at, callback_every)
    assert end == pytest.approx(stops_at)
    assert reports == pytest.approx([0.2 * k for k in range(round(stops_at / 0.2))])


def test_a_fatal_report_ends_when_the_node_is_stopped(monkeypatch):
    reports, end = _report(monkeypatch, None, 0.004, stop_at=0.5)
    assert end == pytest.approx(0.5) and len(reports) == 3


def test_a_node_without_report_fatal_is_not_reported():
    node_main._report_fatal(object(), "died", lambda timeout_sec: pytest.fail("spun"))
