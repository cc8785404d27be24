"""eval_report.write_results: a run of the same evaluator, tasks and settings replaces the earlier one
and says so; other runs are kept. The side-by-side table of several evaluation files."""
import json

import pytest

from gr2_bringup.eval_report import EpisodeResult, main, write_results


def _episodes(task, setting, ok):
    return [EpisodeResult(task=task, setting=setting, seed=100000, instruction="x", success=ok, lifted=None,
                          lifted_target=None, duration_s=1.0, chunks=3)]


def test_replacing_a_run_is_reported(tmp_path, capsys):
    out = tmp_path / "eval.json"
    write_results(out, "in_process", _episodes("pick_cube", "simple", True), {"sha256": "aaa"}, {}, ["a"])
    write_results(out, "in_process", _episodes("open_drawer", "simple", True), {"sha256": "aaa"}, {}, ["b"])
    assert capsys.readouterr().err == ""
    write_results(out, "in_process", _episodes("pick_cube", "simple", False), {"sha256": "bbb"}, {}, ["c"])
    err = capsys.readouterr().err
    assert "replaced the in_process run" in err and "aaa" in err
    runs = json.loads(out.read_text())["runs"]
    assert [r["command"] for r in runs] == ["b", "c"]


def test_side_by_side_table_of_two_checkpoints(tmp_path, capsys):
    def eps(task, setting, wins, expert=None):
        return [EpisodeResult(task=task, setting=setting, seed=100000 + i, instruction="x", success=i < wins,
                              expert_success=expert) for i in range(4)]
    write_results(tmp_path / "a.json", "in_process", eps("pick_cube", "simple", 3, True) +
                  eps("open_drawer", "simple", 1, True), {"sha256": "aaa"}, {}, ["a"])
    write_results(tmp_path / "b.json", "in_process", eps("pick_cube", "simple", 0) +
                  eps("open_drawer", "simple", 2), {"sha256": "bbb"}, {}, ["b"])
    out = tmp_path / "c.json"
    assert main([f"pre={tmp_path / 'a.json'}", f"scratch={tmp_path / 'b.json'}", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| task | setting | pre | scratch | expert, same seeds |" in table
    assert "| pick_cube | simple | 3/4 75% [30, 95] | 0/4 0% [0, 49] | 4/4 100% [51, 100] |" in table
    assert "| **all** | simple | 4/8 50% [22, 78] | 2/8 25% [7, 59] | 8/8 100% [68, 100] |" in table
    doc = json.loads(out.read_text())
    assert doc["sources"]["scratch"]["checkpoint"] == {"sha256": "bbb"}
    with pytest.raises(SystemExit):
        main(["no-equals-sign"])
