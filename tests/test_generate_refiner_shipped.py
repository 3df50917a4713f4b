"""The shipped broadband refiner (``src/quakesynth/weights/broadband``, issue 17 item 5) works on a
fresh install: ``quakesynth refine`` with no ``--model`` refines ObsPy's real example record,
low-passed at fc = 1 Hz, into a broadband record that keeps the input below 0.8 fc and has
high frequencies of the real record's order of magnitude."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from quakesynth.cli.main import cli

FC = 1.0


@pytest.fixture(scope="module")
def real_and_low(tmp_path_factory):
    """ObsPy's example (RJOB, 100 Hz, 30 s) in m/s^2, and its copy low-passed at FC, as miniSEED."""
    import obspy

    from quakesynth.physics.broadband import crossover_lowpass

    st = obspy.read()
    st.detrend("demean")
    st.taper(0.05)
    st.remove_response(obspy.read_inventory(), output="ACC")
    data = np.stack([tr.data.astype(np.float64) for tr in st])  # (3, T) m/s^2, Z N E
    low = crossover_lowpass(data[None], st[0].stats.sampling_rate, FC)[0]
    folder = tmp_path_factory.mktemp("shipped")
    lo = st.copy()
    for tr, x in zip(lo, low):
        tr.data = x.astype(np.float64)
    lo.write(str(folder / "low.mseed"), format="MSEED")
    return data, low, st[0].stats.sampling_rate, folder


def _band_rms(x, fs, f1, f2):
    f = np.fft.rfftfreq(x.shape[-1], 1 / fs)
    spec = np.fft.rfft(x, axis=-1)
    return np.sqrt(np.mean(np.abs(spec[..., (f >= f1) & (f < f2)]) ** 2, axis=-1))


def _refine(folder, out, *extra):
    import obspy

    res = CliRunner().invoke(cli, ["refine", str(folder / "low.mseed"), "--magnitude", "5", "--distance", "50",
                                   "-o", str(out), "--no-progress", *extra])
    assert res.exit_code == 0, res.output
    st = obspy.read(str(out))
    got = {tr.stats.channel[-1]: tr.data.astype(np.float64) for tr in st}
    return np.stack([got["Z"], got["N"], got["E"]])


def test_shipped_refiner_keeps_the_input_and_adds_realistic_high_frequencies(real_and_low):
    """The example's event is not in the file; M 5 at 50 km is assumed. So the level above fc is
    judged with the network's own level (`--hf-level model`, for records whose scenario is unknown);
    the default scenario level follows the assumed scenario (checked in tests/test_broadband_level.py
    and tests/test_physics_broadband.py) and must keep the input all the same."""
    data, low, fs, folder = real_and_low
    bb = _refine(folder, folder / "bb.mseed", "--hf-level", "model")
    assert bb.shape == data.shape  # same length and rate as the input
    # input kept below 0.8 fc: relative RMS difference of the band-limited spectra under 5 %
    from quakesynth.physics.broadband import band_kept_error

    keep = np.asarray(band_kept_error(bb[None], low[None], fs, 0.8 * FC))
    assert np.all(keep < 0.05), keep
    # high frequencies added, of the real record's order (within a factor 10 at 2-10 Hz)
    hf_low, hf_bb, hf_real = (_band_rms(x, fs, 2.0, 10.0) for x in (low, bb, data))
    assert np.all(hf_bb > 20 * hf_low)
    ratio = hf_bb / hf_real
    assert np.all((ratio > 0.1) & (ratio < 10.0)), ratio
    default = _refine(folder, folder / "bb_scenario.mseed")  # the default: the scenario's level
    assert np.all(np.asarray(band_kept_error(default[None], low[None], fs, 0.8 * FC)) < 0.05)
    assert np.all(_band_rms(default, fs, 2.0, 10.0) > 20 * hf_low)


def test_shipped_refiner_is_a_named_model_and_not_a_scenario_generator(tmp_path, capsys):
    import quakesynth
    from quakesynth.cli.main import main
    from quakesynth.generate.refiner import BroadbandRefiner

    ref = quakesynth.load_model("broadband")  # what `evaluate --model refiner=broadband` loads
    assert isinstance(ref, BroadbandRefiner) and ref.lowpass[0] == FC
    assert "broadband" in quakesynth.generate.available_models()
    code = main(["generate", "--model", "broadband", "--magnitude", "6", "--distance", "30", "--vs30", "400",
                 "--depth", "10", "--gap", "120", "-o", str(tmp_path / "x.h5")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "quakesynth refine" in err, err
