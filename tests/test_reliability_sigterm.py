"""A SIGTERM whose exception Python swallows still stops a run (issue 14 item 3).

Python only prints an exception raised inside a weakref callback or a ``__del__``. A SIGTERM that
lands there was lost: ``quakesynth generate -n 1000000`` went on after ``kill -TERM`` (seen under
load: the handler's exception was "ignored in WeakValueDictionary.remove"), and the suite's
SIGTERM test timed out now and then. The handler now also records the signal, and streaming loops
check it once per chunk.
"""

from __future__ import annotations

import signal

import numpy as np
import pytest

from quakesynth import _atomic
from test_reliability_generate import Toy  # the shared noise generator of the CLI tests


class Noise(Toy):
    name = "toy-sigterm"


class _Swallower:
    """Runs the SIGTERM handler inside ``__del__``, where Python only prints the exception."""

    def __del__(self):
        _atomic.on_sigterm(signal.SIGTERM, None)


@pytest.fixture(autouse=True)
def _clean():
    _atomic.clear_terminated()
    yield
    _atomic.clear_terminated()


def test_a_swallowed_sigterm_stops_generation_at_the_next_chunk():
    gen = Noise()
    chunks = gen.iter_table(_table(), batch_size=2)
    next(chunks)
    _Swallower()  # created and collected at once: its __del__ "receives" the SIGTERM, Python swallows it
    with pytest.raises(_atomic.Terminated) as e:
        next(chunks)
    assert e.value.code == 128 + signal.SIGTERM


def test_writers_check_for_a_swallowed_sigterm(tmp_path):
    from quakesynth.formats import open_writer
    from quakesynth.records import Records

    rec = Records(np.zeros((2, 3, 32), np.float32), fs=100.0, components="ZNE")
    with pytest.raises(_atomic.Terminated):
        with open_writer(tmp_path / "out.npz") as w:
            w.add(rec)
            _Swallower()
            w.add(rec)
    assert list(tmp_path.iterdir()) == []  # the temporary output is removed on the way out


def test_cli_reports_it_once_and_forgets_it(tmp_path, capsys):
    from quakesynth.cli.main import main
    from quakesynth.generate import _REGISTRY, register_model

    register_model("toy-sigterm", Noise)
    try:
        _Swallower()
        code = main(["generate", "--model", "toy-sigterm", "--magnitude", "5", "--distance", "30", "--vs30", "400",
                     "--depth", "10", "--gap", "90", "-n", "4", "-o", str(tmp_path / "o.npz")])
        # main() starts by forgetting SIGTERMs of earlier runs in this process: this run completes
        assert code == 0, capsys.readouterr().err
    finally:
        _REGISTRY.pop("toy-sigterm", None)


def _table():
    import pandas as pd

    return pd.DataFrame({"magnitude": [5.0], "distance": [30.0], "vs30": [400.0], "depth": [10.0], "gap": [90.0],
                         "n": [10 ** 9]})
