"""Where the stack's configuration (the top-level config/ folder) is, for code that reads it directly.

Nodes get their parameters through --params-file; a few ROS-free pieces (the graph, the robot
description) read config/ themselves. Order: $GR2_CONFIG_DIR (e.g. a mounted volume in docker),
the workspace's config/ ($GR2_WORKSPACE, set by env.sh), then the installed folder that a package
registers in the ament index under the resource type `gr2_config` (gr2_bringup registers the
config/ it installs). The lookup names no package: the packages that read config/ (the WBC, the
drivers, the description) do not depend on gr2_bringup, which depends on them.

Config files of the learning commands (`--config FILE`, see `parse_with_config`): every stage of
a recipe (dataset, VQGAN, token cache, fine-tune, DAgger round, evaluation) is one command whose
YAML file holds its options (keys are the long option names, dashes or underscores); options on
the command line win over the file; keys the command does not know are an error, so a typo in a
config file never goes unnoticed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

CONFIG_RESOURCE_TYPE = "gr2_config"


def config_dir() -> Path:
    """The folder of the stack's YAML files: $GR2_CONFIG_DIR, else $GR2_WORKSPACE/config, else the
    installed folder registered under the ament resource type `gr2_config` (installed_config_dir)."""
    explicit = os.environ.get("GR2_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    workspace = os.environ.get("GR2_WORKSPACE")
    if workspace and (Path(workspace) / "config").is_dir():
        return Path(workspace) / "config"
    return installed_config_dir()


def installed_config_dir() -> Path:
    """share/<package>/<folder> of the one package whose `gr2_config` resource names <folder>.

    Raises FileNotFoundError when no package or more than one registers a config folder.
    """
    from ament_index_python import get_resource, get_resources
    providers = sorted(get_resources(CONFIG_RESOURCE_TYPE))
    if len(providers) != 1:
        raise FileNotFoundError(
            f"the stack's config/ folder: {len(providers)} installed packages register one under the ament "
            f"resource type '{CONFIG_RESOURCE_TYPE}' ({providers}); install gr2_bringup, or set GR2_CONFIG_DIR")
    folder, prefix = get_resource(CONFIG_RESOURCE_TYPE, providers[0])
    return Path(prefix) / "share" / providers[0] / folder.strip()


def yaml_defaults(parser: argparse.ArgumentParser, path: str | Path) -> dict:
    """Option defaults from `path`, keyed by the parser's dest names; unknown keys raise SystemExit."""
    import yaml
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        parser.error(f"{path}: expected a mapping of option names to values")
    # a key is a long option name (dashes or underscores) or an option's dest
    dests = {a.dest: a.dest for a in parser._actions}
    for a in parser._actions:
        for opt in a.option_strings:
            if opt.startswith("--"):
                dests[opt[2:].replace("-", "_")] = a.dest
    out, unknown = {}, []
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in dests or dests[name] in ("config", "help"):
            unknown.append(key)
        else:
            out[dests[name]] = value
    if unknown:
        known = sorted(k for k, d in dests.items() if d not in ("help", "config"))
        parser.error(f"{path}: unknown option(s) {unknown}; known: {known}")
    return out


def parse_with_config(parser: argparse.ArgumentParser, argv: list[str] | None,
                      required: tuple[str, ...] = ()) -> argparse.Namespace:
    """Parse `argv`; if it names `--config FILE`, that file's values become the defaults first.
    `required`: dests that must be set by the file or the command line."""
    args = parser.parse_args(argv)
    if getattr(args, "config", None):
        parser.set_defaults(**yaml_defaults(parser, args.config))
        args = parser.parse_args(argv)
    missing = [r for r in required if getattr(args, r, None) in (None, "", [])]
    if missing:
        parser.error("missing " + ", ".join("--" + m.replace("_", "-") for m in missing)
                     + " (on the command line or in --config)")
    return args
