"""gr2_bringup.dds_shm: which Fast DDS shared-memory port files a bring-up removes.

On a temporary folder standing in for /dev/shm: only empty `fastrtps_port<N>` files older than a
participant's creation takes and held open by no process go; live segments, other Fast DDS files,
young files and files a process holds open stay."""
import os
import subprocess
import sys
import time

from gr2_bringup.dds_shm import MIN_AGE_S, check_port_segments, open_paths, remove_stale_port_segments


def _make(folder, name, size=0, age_s=60.0):
    path = folder / name
    path.write_bytes(b"\0" * size)
    t = time.time() - age_s
    os.utime(path, (t, t))
    return path


def test_removes_only_old_empty_port_segments_no_process_holds(tmp_path):
    stale = _make(tmp_path, "fastrtps_port7411")
    live = _make(tmp_path, "fastrtps_port7413", size=52400)
    young = _make(tmp_path, "fastrtps_port7415", age_s=MIN_AGE_S / 2)
    others = [_make(tmp_path, n) for n in ("fastrtps_port7411_el", "sem.fastrtps_port7411_mutex",
                                          "fastrtps_09a00c4d55992901_el", "fastrtps_port")]
    found = remove_stale_port_segments(tmp_path)
    assert found.stale == [stale] and not stale.exists()
    assert found.held == {} and found.not_removed == []
    assert all(p.exists() for p in (live, young, *others))
    assert len(found.messages()) == 1 and str(stale) in found.messages()[0]
    assert remove_stale_port_segments(tmp_path).messages() == []     # nothing left to do


def test_an_empty_segment_a_process_holds_open_is_reported_not_removed(tmp_path):
    held = _make(tmp_path, "fastrtps_port7411")
    # a real process holding the file open, as a participant that hangs on it does
    proc = subprocess.Popen([sys.executable, "-c", f"f = open({str(held)!r}); import time; time.sleep(60)"])
    try:
        deadline = time.monotonic() + 10
        while held not in open_paths() and time.monotonic() < deadline:
            time.sleep(0.05)
        found = remove_stale_port_segments(tmp_path)
        assert found.stale == [] and found.held == {proc.pid: [held]} and held.exists()
        assert f"kill -9 {proc.pid}" in found.messages()[0]
    finally:
        proc.kill()
        proc.wait()
    assert remove_stale_port_segments(tmp_path).stale == [held]


def test_age_is_measured_against_the_given_clock(tmp_path):
    path = _make(tmp_path, "fastrtps_port7411", age_s=0)
    mtime = path.stat().st_mtime
    assert check_port_segments(tmp_path, now=mtime + MIN_AGE_S - 1, held={}).stale == []
    assert check_port_segments(tmp_path, now=mtime + MIN_AGE_S, held={}).stale == [path]


def test_a_missing_folder_finds_nothing(tmp_path):
    found = check_port_segments(tmp_path / "absent")
    assert found.stale == [] and found.held == {}
