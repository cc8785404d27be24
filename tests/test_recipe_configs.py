"""Every recipe config (config/<recipe>/*.yaml) is read by its command's own parser (no unknown or
misspelt option), and every input a stage names is made by a stage of a recipe: the recipes are
complete as written, not a session's memory."""
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted(p for p in (ROOT / "config").glob("*/*.yaml"))
INPUT_KEYS = ("episodes", "videos", "tokens", "init", "vqgan", "checkpoint")


def parser_for(name: str):
    """The argument parser of the command a config file of this name is for (its first comment line
    names the command too)."""
    from gr2_policy import train
    if name.startswith("dataset_"):
        from gr2_drivers.sim.dataset import build_parser
        return build_parser()
    if name.startswith("tokens"):
        from gr2_policy.token_cache import build_parser
        return build_parser()
    if name.startswith("dagger"):
        from gr2_bringup.dagger import build_parser
        return build_parser()
    if name.startswith("evaluate"):
        from gr2_bringup.evaluate import build_parser
        return build_parser()
    if name.startswith("videos"):
        from gr2_bringup.video_clips import build_parser
        return build_parser()
    sub = "train-vqgan" if name.startswith("vqgan") else "pretrain" if name.startswith("pretrain") else "finetune"
    subparsers = next(a for a in train.build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return subparsers.choices[sub]


def test_there_are_recipes():
    assert {p.parent.name for p in RECIPES} >= {"pick_cube", "multitask"}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_is_read_by_its_command(path):
    from gr2_contract.config import yaml_defaults
    assert yaml_defaults(parser_for(path.name), path)


def _made_by_recipes() -> set[str]:
    """Every folder a recipe stage writes: its `out` (and OUT/ckpt for training runs), and the
    `--out` folders its comments name (DAgger rounds run as two processes)."""
    made = set()
    for path in RECIPES:
        text = path.read_text()
        outs = [str(yaml.safe_load(text).get("out", ""))] + re.findall(r"--out (\S+)", text)
        for out in filter(None, outs):
            made |= {out, out + "/ckpt"}
    return made


def test_every_input_is_made_by_a_recipe_stage():
    made = _made_by_recipes()
    missing = []
    for path in RECIPES:
        cfg = yaml.safe_load(path.read_text())
        for key in INPUT_KEYS:
            values = cfg.get(key)
            if isinstance(values, str):
                values = [values]
            if not isinstance(values, list):    # e.g. a dataset's `episodes` count
                continue
            for v in values:
                if not str(v).startswith("package://") and str(v).rstrip("/") not in made:
                    missing.append(f"{path.parent.name}/{path.name}: {key} {v}")
    assert not missing, "inputs no recipe stage makes:\n" + "\n".join(missing)
