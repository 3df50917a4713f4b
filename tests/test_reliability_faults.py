"""Issue 14, items 2-3: write errors, SIGTERM and SIGKILL, with real subprocesses.

Write errors are injected at the system-call level with a file-size limit (``RLIMIT_FSIZE``,
SIGXFSZ ignored: writes past it fail with EFBIG), the same path as a full disk (ENOSPC) without
needing a small file system; a full tmpfs was checked by hand (benchmarks/results/reliability.md).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and rlimits")

SCEN = ["--magnitude", "5", "--distance", "30", "--vs30", "400", "--depth", "10", "--gap", "100"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "QUAKESYNTH_THREADS": "1"}
OUTPUTS = {"hdf5": "out.h5", "npz": "out.npz", "mseed": "out.mseed", "sac": "out.sac", "at2": "out.at2",
           "seisbench": "out"}


def _generate(*args: str, preexec_fn=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "quakesynth", "generate", "--model", "stochastic",
                             "--no-progress", *SCEN, *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn)


def _small_file_limit() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8000, 8000))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("fmt", list(OUTPUTS))
def test_write_error_is_one_line_exit_2_and_leaves_the_destination_untouched(tmp_path, fmt):
    out = tmp_path / OUTPUTS[fmt]
    if fmt in ("sac", "at2", "seisbench"):
        out.mkdir()
        (out / "keep.txt").write_text("previous output")
    else:
        out.write_text("previous output")
    before = _snapshot(tmp_path)
    p = _generate("-n", "6", "--batch-size", "2", "-o", str(out), "--overwrite", preexec_fn=_small_file_limit)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"quakesynth: error: cannot write {str(out)!r}: file too large"), err
    assert _snapshot(tmp_path) == before  # no temporary file, previous output intact


def _wait_for_temp(folder: Path, p: subprocess.Popen, timeout: float = 120.0) -> list[str]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        tmps = sorted(x.name for x in folder.iterdir() if x.name.startswith("."))
        if tmps:
            return tmps
        if p.poll() is not None:
            raise AssertionError(f"exited early: {p.communicate()}")
        time.sleep(0.05)
    p.kill()
    raise AssertionError("no temporary output appeared")


def test_sigterm_removes_the_temporary_output(tmp_path):
    p = _generate("-n", "1000000", "--batch-size", "2", "-o", str(tmp_path / "out.h5"))
    _wait_for_temp(tmp_path, p)
    p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()  # never leave a runaway generation behind (it would load every later test)
        p.communicate()
        raise AssertionError("quakesynth generate kept running after SIGTERM") from None
    assert p.returncode == 128 + signal.SIGTERM, err
    assert "terminated" in err
    assert list(tmp_path.iterdir()) == []


def test_next_run_removes_what_a_sigkilled_run_left(tmp_path):
    out = tmp_path / "out.h5"
    p = _generate("-n", "1000000", "--batch-size", "2", "-o", str(out))
    left = _wait_for_temp(tmp_path, p)
    p.kill()
    p.communicate(timeout=60)
    assert sorted(x.name for x in tmp_path.iterdir()) == left  # kill -9: no chance to clean up
    q = _generate("-n", "2", "-o", str(out))
    _, err = q.communicate(timeout=300)
    assert q.returncode == 0, err
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out.h5"]


def test_temporaries_of_live_processes_and_foreign_files_are_kept(tmp_path):
    from quakesynth._atomic import atomic_path, remove_stale, temp_path

    target = tmp_path / "out.h5"
    mine = temp_path(target)  # this (live) process
    foreign = tmp_path / ".out.h5.abcdefgh.tmp"  # not our pattern
    foreign.write_text("x")
    dead = tmp_path / f".out.h5.qs-{mine.name.split('-')[1]}-999999999-00ff.tmp"
    dead.write_text("x")
    assert remove_stale(target) == [dead]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted([mine.name, foreign.name, "out.h5"])
