"""Replay timing: publish bag messages with their original relative timing (ROS-free core).

The player node supplies `publish` (its rclpy publishers) and `tick` (it publishes /clock);
tests supply fakes for time. Timing is kept against one start instant, so per-message
jitter does not accumulate over a long bag.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rosbags.typesys.store import Typestore

from .reader import BagMessage


@dataclass
class PlaybackStats:
    """What one `play` did: messages published per topic, worst lateness (s), wall time (s)."""
    published: Counter = field(default_factory=Counter)
    max_lateness_s: float = 0.0  # how far behind schedule the worst message went out
    wall_duration_s: float = 0.0
    stopped_early: bool = False


def play(messages: Iterable[BagMessage], publish: Callable[[BagMessage], None], *,
         rate: float = 1.0, tick: Callable[[int], None] | None = None,
         should_stop: Callable[[], bool] = lambda: False,
         now: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
         max_sleep_s: float = 0.01) -> PlaybackStats:
    """Publish each message at start + (its bag time - first bag time) / rate.

    `tick(bag_time_ns)` is called at least every `max_sleep_s` while waiting, with the bag
    time that corresponds to now (for a /clock publisher).
    """
    if not rate > 0:
        raise ValueError(f"playback rate must be > 0, got {rate}")
    stats = PlaybackStats()
    start_wall = now()
    first_ns = None
    for message in messages:
        if first_ns is None:  # the clock starts at the first message, not at opening the bag
            first_ns, start_wall = message.timestamp_ns, now()
        due = start_wall + (message.timestamp_ns - first_ns) / 1e9 / rate
        while True:
            if should_stop():
                stats.stopped_early = True
                stats.wall_duration_s = now() - start_wall
                return stats
            remaining = due - now()
            if tick is not None:
                tick(first_ns + int(max(0.0, now() - start_wall) * rate * 1e9))
            if remaining <= 0:
                break
            sleep(min(remaining, max_sleep_s))
        stats.max_lateness_s = max(stats.max_lateness_s, now() - due)
        publish(message)
        stats.published[message.topic] += 1
    stats.wall_duration_s = now() - start_wall
    return stats


def restamp(message: BagMessage, offset_ns: int, typestore: Typestore) -> BagMessage:
    """Shift header.stamp by `offset_ns` (recorded stamps → replay time), other fields unchanged.

    Consumers that reject stale inputs by header stamp (the policy node does) would see every
    replayed frame as old; restamping keeps the recorded spacing between stamps while making
    them current. Messages without a header pass through untouched.
    """
    msg = typestore.deserialize_cdr(message.data, message.msgtype)
    header = getattr(msg, "header", None)
    if header is None or not hasattr(header, "stamp"):
        return message
    stamp_ns = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec + offset_ns
    header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    data = bytes(typestore.serialize_cdr(msg, message.msgtype))
    return BagMessage(message.topic, message.msgtype, message.timestamp_ns, data)
