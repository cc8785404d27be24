"""`gr2-bag`: record, inspect, replay and convert rosbag2 bags on hosts without `ros2 bag`.

    gr2-bag record [-o DIR] [--max-duration S] [--only] [TOPIC ...]   # Ctrl-C finalises the bag
    gr2-bag info BAG [--json]
    gr2-bag recover BAG OUT                                              # a killed recording -> a finished bag
    gr2-bag play BAG [--rate R] [--topics T ...] [--clock] [--restamp] [--wait S]
    gr2-bag to-dataset BAG [BAG ...] OUT [--rate HZ] [--failed] [--trim-idle M]
    gr2-bag open-loop SESSION REPLAY [--offset-ns N]                     # predicted chunks vs recorded motion

record/play start the rclpy nodes in this process (their parameters can also come from
--ros-args after the subcommand's own options, e.g. `--ros-args --params-file ...`).
"""

from __future__ import annotations

import argparse
import json
import sys


def _yaml_list(items: list[str]) -> str:
    return "[" + ",".join(f"'{i}'" for i in items) + "]"


def _cmd_record(ns: argparse.Namespace, ros_args: list[str]) -> int:
    from gr2_contract import RECORDED_TOPICS

    from . import recorder_node

    topics = list(ns.topics) if ns.only else list(dict.fromkeys([*RECORDED_TOPICS, *ns.topics]))
    params = ["-p", f"topics:={_yaml_list(topics)}", "-p", f"max_duration:={ns.max_duration}"]
    if ns.output:
        params += ["-p", f"output:={ns.output}"]
    return recorder_node.main(args=["gr2-bag", "--ros-args", *params, *ros_args])


def _cmd_play(ns: argparse.Namespace, ros_args: list[str]) -> int:
    from . import player_node

    params = ["-p", f"bag:={ns.bag}", "-p", f"rate:={float(ns.rate)}",
              "-p", f"clock:={str(ns.clock).lower()}", "-p", f"restamp:={str(ns.restamp).lower()}",
              "-p", f"wait_for_subscribers:={float(ns.wait)}"]
    if ns.topics:
        params += ["-p", f"topics:={_yaml_list(ns.topics)}"]
    return player_node.main(args=["gr2-bag", "--ros-args", *params, *ros_args])


def _cmd_info(ns: argparse.Namespace) -> int:
    from .reader import format_info, read_info

    info = read_info(ns.bag)
    if ns.json:
        print(json.dumps({"path": str(info.path), "storage": info.storage, "files": info.files,
                          "start_ns": info.start_ns, "end_ns": info.end_ns,
                          "duration_s": info.duration_s, "message_count": info.message_count,
                          "topics": {t.name: {"type": t.msgtype, "count": t.count}
                                     for t in info.topics.values()}}, indent=2))
    else:
        print(format_info(info))
    return 0


def _cmd_recover(ns: argparse.Namespace) -> int:
    from .recover import recover_bag

    print(recover_bag(ns.bag, ns.out))
    return 0


def _cmd_to_dataset(ns: argparse.Namespace) -> int:
    from .dataset import convert_bag

    for bag in ns.bag:
        print(convert_bag(bag, ns.out, rate_hz=ns.rate, success=not ns.failed, trim_idle_m=ns.trim_idle))
    return 0


def _cmd_open_loop(ns: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .open_loop import evaluate_bags

    print(json.dumps(asdict(evaluate_bags(ns.session, ns.replay, ns.offset_ns)), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `gr2-bag` argument parser: subcommands record, info, recover, play, to-dataset, open-loop."""
    parser = argparse.ArgumentParser(prog="gr2-bag", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="record the stack's topics (gr2_contract.RECORDED_TOPICS)")
    rec.add_argument("topics", nargs="*", help="extra topics to record")
    rec.add_argument("-o", "--output", default="", help="bag directory to create (default: gr2_bag_<time>)")
    rec.add_argument("--only", action="store_true", help="record only the topics given, not the defaults")
    rec.add_argument("--max-duration", type=float, default=0.0, help="stop after S seconds (0: until Ctrl-C)")
    info = sub.add_parser("info", help="topics, types, counts and duration of a bag")
    info.add_argument("bag")
    info.add_argument("--json", action="store_true")
    rec_ = sub.add_parser("recover", help="rewrite a killed recording (no summary, no metadata.yaml) as a finished bag")
    rec_.add_argument("bag")
    rec_.add_argument("out", help="the new bag directory")
    play = sub.add_parser("play", help="republish a bag with its original timing")
    play.add_argument("bag")
    play.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    play.add_argument("--topics", nargs="+", default=[], help="play only these topics")
    play.add_argument("--clock", action="store_true", help="publish /clock with the bag time")
    play.add_argument("--restamp", action="store_true", help="shift header stamps to replay time")
    play.add_argument("--wait", type=float, default=0.0,
                      help="wait up to S seconds for a subscriber on every played topic")
    conv = sub.add_parser("to-dataset", help="convert a recorded session into training data")
    conv.add_argument("bag", nargs="+", help="one or more bags (a teleop session's episode_NNN)")
    conv.add_argument("out")
    conv.add_argument("--trim-idle", type=float, default=0.0, metavar="M",
                      help="drop leading/trailing steps whose TCP moves less than M metres (0: keep all)")
    conv.add_argument("--rate", type=float, default=10.0, help="dataset step rate, Hz")
    conv.add_argument("--failed", action="store_true",
                      help="mark the episodes unsuccessful (default: demos succeed; a teleop session's bag says)")
    ol = sub.add_parser("open-loop", help="policy chunks (from a replay) vs the recorded motion")
    ol.add_argument("session", help="the recorded session bag that was replayed")
    ol.add_argument("replay", help="bag of /gr2/action_chunk recorded during the replay")
    ol.add_argument("--offset-ns", type=int, default=None,
                    help="stamp shift of the replay: 0 after `play --clock`, the logged value after `--restamp`")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one `gr2-bag` subcommand; arguments after `--ros-args` go to the recorder or player node.

    Returns the exit code: 2, with one line on stderr, when the bag, a topic or an argument is wrong.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    ros_args: list[str] = []
    if "--ros-args" in argv:
        i = argv.index("--ros-args")
        argv, ros_args = argv[:i], argv[i + 1:]
    ns = build_parser().parse_args(argv)
    try:
        if ns.command == "record":
            return _cmd_record(ns, ros_args)
        if ns.command == "play":
            return _cmd_play(ns, ros_args)
        if ns.command == "info":
            return _cmd_info(ns)
        if ns.command == "recover":
            return _cmd_recover(ns)
        if ns.command == "open-loop":
            return _cmd_open_loop(ns)
        return _cmd_to_dataset(ns)
    except (FileNotFoundError, FileExistsError, KeyError, ValueError) as err:
        print(f"gr2-bag {ns.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
