"""eval_report.write_results: a run of the same evaluator, tasks and settings replaces the earlier one
and says so; other runs are kept."""
import json

from gr2_bringup.eval_report import EpisodeResult, write_results


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
