"""Broadband refine from low-frequency input: filters, hybrid baseline, a tiny trained refiner,
`quakesynth refine` end to end (quakesynth.physics.broadband)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from quakesynth.cli.main import main
from quakesynth.generate.refiner import BroadbandRefiner
from quakesynth.physics.broadband import (
    band_kept_error,
    convert_quantity,
    crossover_lowpass,
    crossover_lowpass_response,
    crossover_merge,
    hybrid_baseline,
    keep_mask,
    window_starts,
)
from quakesynth.records import Records

FS = 100.0


def _tone(f, T=4096, fs=FS):
    return np.sin(2 * np.pi * f * np.arange(T) / fs)


def test_crossover_filters_are_complementary_and_zero_phase():
    f = np.linspace(0, 50, 501)
    L = crossover_lowpass_response(f, 1.0, 8)
    assert L[0] == 1 and L[10] == pytest.approx(0.5) and L[8] > 0.97 and L[30] < 1e-7
    x = _tone(0.25) + _tone(10.0)
    low = crossover_lowpass(x, FS, 1.0, 8)
    np.testing.assert_allclose(low[500:-500], _tone(0.25)[500:-500], atol=1e-3)  # no phase shift
    a, b = np.random.default_rng(0).standard_normal((2, 3, 1000))
    np.testing.assert_allclose(crossover_merge(a, a, FS, 1.0), a, atol=1e-12)  # L + H = 1
    np.testing.assert_allclose(crossover_merge(a, b, FS, 1.0) - crossover_merge(a, 0 * b, FS, 1.0),
                               b - crossover_lowpass(b, FS, 1.0, pad=False), atol=1e-12)
    m = keep_mask(f, 1.0, 0.8)
    assert m[f <= 0.8].max() == 0 and m[f >= 1.0].min() == 1 and np.all(np.diff(m) >= 0)


def test_band_kept_error_and_spectral_quantity_conversion():
    T = 4096
    inp = _tone(25 * FS / T)[None, None]  # a tone on an FFT bin (0.61 Hz)
    out = inp + _tone(640 * FS / T)[None, None]  # plus one at 15.6 Hz
    assert band_kept_error(out, inp, FS, 0.8)[0] < 1e-10
    assert band_kept_error(1.03 * inp, inp, FS, 0.8)[0] == pytest.approx(0.03)
    t = np.arange(T) / FS
    g = np.exp(-(((t - 20) / 4) ** 2))  # a tapered 2 Hz tone: d/dt (g sin) known in closed form
    v = g * np.sin(2 * np.pi * 2.0 * t)
    dv = g * (2 * np.pi * 2.0 * np.cos(2 * np.pi * 2.0 * t) - (t - 20) / 8 * np.sin(2 * np.pi * 2.0 * t))
    a = convert_quantity(v, FS, 1)
    np.testing.assert_allclose(a, dv, atol=1e-3 * np.abs(dv).max())
    np.testing.assert_allclose(convert_quantity(a, FS, -1, fmin=0.2), v, atol=1e-3)


def test_windows_cover_the_record():
    starts = window_starts(1000, 256, 128)
    assert starts[0] == 0 and starts[-1] == 1000 - 256 and all(np.diff(starts) <= 128)
    with pytest.raises(ValueError, match="shorter"):
        window_starts(100, 256, 128)


def test_known_overlap_is_inpainted_exactly():
    """residual_sample with ``known`` ends exactly on it (the last sampler step returns the
    denoised estimate, whose known part is replaced at every step)."""
    from quakesynth.diffusion.sampler import StackedRandomGenerator
    from quakesynth.models.refiner import Refiner, RefinerConfig

    torch.manual_seed(0)
    ref = Refiner(RefinerConfig(model_channels=8, emb_channels=16, channel_mult=(1, 2), n_extra=2)).eval()
    y = torch.randn(2, 3, 64)
    known = torch.randn(2, 3, 20)
    rnd = StackedRandomGenerator("cpu", [1, 2])
    r = ref.residual_sample(y, rnd.randn(y.shape), rnd.randn_like, 5, extra=torch.zeros(2, 2), known=known)
    torch.testing.assert_close(r[..., :20], known, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(r[..., 20:], torch.zeros(()))


# ------------------------------------------------------------------------------------------
# a tiny corpus, a tiny trained refiner
# ------------------------------------------------------------------------------------------
def synthetic_corpus(path, n_events: int = 8, per_event: int = 2, T: int = 4096, seed: int = 0):
    """A small broadband dataset store: enveloped, band-limited (0.1-30 Hz) noise on Z, N, E
    scaled with magnitude and distance, with the scenario metadata (stands in for the
    `quakesynth simulate` corpus)."""
    from scipy import signal

    from quakesynth.data.store import DatasetWriter

    rng = np.random.default_rng(seed)
    N = n_events * per_event
    M = np.repeat(rng.uniform(4, 7, n_events), per_event)
    R = rng.uniform(10, 150, N)
    t = np.arange(T) / FS
    env = np.clip(t - 5, 0, None) ** 2 * np.exp(-np.clip(t - 5, 0, None) / 3)
    sos = signal.butter(4, (0.1, 30), btype="bandpass", fs=FS, output="sos")
    x = signal.sosfiltfilt(sos, rng.standard_normal((N, 3, T)), axis=-1) * env
    x *= (10 ** (0.5 * M - np.log10(R)) / np.abs(x).max(axis=(1, 2)) * 1e-3)[:, None, None]
    meta = pd.DataFrame({"source_id": np.repeat([f"ev{i}" for i in range(n_events)], per_event),
                         "trace_name": [f"r{i}" for i in range(N)], "source_magnitude": M,
                         "path_hyp_distance_km": R, "station_vs30_mps": rng.uniform(200, 800, N),
                         "source_depth_km": rng.uniform(5, 20, N)})
    rec = Records(x.astype(np.float32), fs=FS, components="ZNE", quantity="acceleration", unit="m/s^2",
                  metadata=meta)
    with DatasetWriter(path, fs=FS, components="ZNE", split_fractions=(0.6, 0.4, 0.0)) as w:
        w.add(rec)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return synthetic_corpus(tmp_path_factory.mktemp("bb") / "corpus")


@pytest.fixture(scope="module")
def model_dir(corpus, tmp_path_factory):
    from quakesynth.physics.run import main as run_main

    out = tmp_path_factory.mktemp("bbrun") / "run"
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert run_main(["broadband", "--data", str(corpus), "--preset", "refiner_broadband_tiny", "-o", str(out),
                         "--quiet"]) == 0
    finally:
        torch.set_num_threads(n)
    return out / "model"


@pytest.fixture(scope="module")
def records(corpus):
    from quakesynth.data.store import Dataset

    ds = Dataset(corpus)
    return ds.get(np.arange(2)).replace(data=ds.get(np.arange(2)).data[..., :1024])


def _low(rec: Records, fc=1.0) -> Records:
    return rec.replace(data=crossover_lowpass(rec.data, rec.fs, fc, 8).astype(np.float32))


def test_refine_keeps_the_input_below_fc_and_adds_high_frequencies(model_dir, records):
    br = BroadbandRefiner(model_dir)
    assert br.refiner.cfg.n_extra == 5 and br.cfg.window == 256
    low = _low(records)
    out = br.refine(low, num_steps=3, seed=1)
    assert out.data.shape == low.data.shape and out.fs == FS and out.components == low.components
    err = band_kept_error(out.data, low.data, FS, 0.8)
    assert err.max() < 0.05  # the target; by construction it is round-off
    assert err.max() < 1e-4
    hf = crossover_lowpass(out.data - low.data, FS, 20.0) - crossover_lowpass(out.data - low.data, FS, 2.0)
    assert np.sqrt((hf**2).mean()) > 0  # high frequencies were added
    assert out.processing(0)[-1]["step"] == "refine_broadband"
    # per-record seeds: record 1 alone gives what it gave in the batch; another fc works
    one = br.refine(low[1:2], seeds=[int(np.random.SeedSequence([1, 1]).generate_state(1)[0])], num_steps=3)
    np.testing.assert_allclose(one.data[0], out.data[1], rtol=0, atol=1e-5 * np.abs(out.data).max())
    out2 = br.refine(_low(records, 0.5), fc=0.5, num_steps=2)
    assert band_kept_error(out2.data, _low(records, 0.5).data, FS, 0.4).max() < 1e-4


def test_scenario_hf_level_follows_the_scenario_not_the_input_amplitude(model_dir, records):
    """hf_level="scenario": ten times the input raises the level above fc by 10^rho(f) (Baker &
    Jayaram 2008: ~1 near fc, ~0.2 at 20 Hz), not ten times; the input is still kept below 0.8 fc."""
    from quakesynth.gmm.correlation import baker_jayaram_2008
    from quakesynth.metrics.spectra import smoothed_log_fas
    from quakesynth.physics.broadband import smoothing_centres

    br = BroadbandRefiner(model_dir)
    low = _low(records)
    big = low.replace(data=low.data * 10)
    a = br.refine(low, num_steps=3, seed=1, hf_level="scenario")
    b = br.refine(big, num_steps=3, seed=1, hf_level="scenario")
    assert band_kept_error(b.data, big.data, FS, 0.8).max() < 1e-4
    assert a.processing(0)[-1]["hf_level"] == "scenario"
    centres = smoothing_centres(FS, 1.0)
    sel = (centres > 3) & (centres < 20)
    rho = baker_jayaram_2008(1 / np.sqrt(0.4), 1 / centres[sel])
    diff = (smoothed_log_fas(b.data, FS, centres) - smoothed_log_fas(a.data, FS, centres))[..., sel]
    assert np.abs(diff - rho).max() < 0.15
    m = [smoothed_log_fas(br.refine(x, num_steps=3, seed=1, hf_level="model").data, FS, centres)[..., sel]
         for x in (low, big)]
    assert (m[1] - m[0]).mean() > diff.mean() + 0.3  # the network's own level follows the input more
    with pytest.raises(ValueError, match="hf_level"):
        br.refine(low, num_steps=2, hf_level="input")


@pytest.mark.parametrize("quantity", ["acceleration", "velocity"])
def test_a_perfect_residual_gives_the_truth_above_fc_and_the_input_below(model_dir, corpus, quantity):
    """The window assembly, quantity conversions and keep mask with an oracle refiner that
    returns the true residual of each window: the output is the input below 0.8 fc and the truth
    above fc, so its spectrum is continuous across fc."""
    from quakesynth.data.store import Dataset
    from quakesynth.generate import to_quantity
    from quakesynth.physics.broadband import crossover_lowpass as lp

    full = to_quantity(Dataset(corpus).get(np.arange(3)), quantity)
    truth = full.replace(data=full.data[..., 300:1000])
    low = _low(truth)
    br = BroadbandRefiner(model_dir)
    x = truth.data.astype(np.float64)
    k = 1 if quantity == "velocity" else 0
    a = convert_quantity(x, FS, k, pad=False)  # acceleration-equivalent truth, as the refiner computes it
    y = lp(convert_quantity(low.data, FS, k, pad=False), FS, 1.0, 8)
    starts = window_starts(700, 256, 128)
    calls = iter([(w, j) for w in range(len(starts)) for j in range(0, 3, 2)])

    def oracle(yt, latents, randn_like, num_steps, extra=None, known=None):
        w, j = next(calls)
        s0 = starts[w]
        return torch.as_tensor((a - y)[j:j + 2, :, s0:s0 + 256])

    br.refiner.residual_sample = oracle
    out = br.refine(low, batch_size=2, num_steps=1, hf_level="model").data.astype(np.float64)
    assert band_kept_error(out, low.data, FS, 0.8).max() < 1e-5
    from scipy import fft

    f = fft.rfftfreq(700, 1 / FS)
    Fo, X = fft.rfft(out, axis=-1), fft.rfft(x, axis=-1)
    above = (f >= 1.0) & (f < 40)
    np.testing.assert_allclose(np.abs(Fo[..., above] - X[..., above]), 0, atol=1e-4 * np.abs(X).max())


def test_refine_velocity_input_keeps_its_band(model_dir, records):
    from quakesynth.generate import to_quantity

    vel = _low(to_quantity(records, "velocity"))
    out = BroadbandRefiner(model_dir).refine(vel, num_steps=2)
    assert out.quantity == "velocity" and band_kept_error(out.data, vel.data, FS, 0.8).max() < 1e-4


def test_refine_rejects_bad_input_with_one_line_errors(model_dir, records):
    br = BroadbandRefiner(model_dir)
    low = _low(records)
    nan = low.data.copy()
    nan[0, 0, 5] = np.nan
    cases = {"NaN": low.replace(data=nan),
             "below 2 fc": low.replace(data=low.data[..., ::80], fs=FS / 80),
             "shorter than the refiner's window": low.replace(data=low.data[..., :200])}
    for msg, rec in cases.items():
        with pytest.raises(ValueError, match=msg):
            br.refine(rec, num_steps=1)
    meta = low.metadata.copy()
    meta["source_magnitude"] = np.nan
    with pytest.raises(ValueError, match="missing scenario: record 0 .* no magnitude"):
        br.refine(low.replace(metadata=meta), num_steps=1)
    assert br.refine(low.replace(metadata=meta), num_steps=1, scenario={"magnitude": 6.0}).data.shape == low.data.shape
    with pytest.raises(ValueError, match="outside the crossovers"):
        br.refine(low, fc=5.0)


def test_paired_model_interface(model_dir, records, monkeypatch):
    import quakesynth.generate as gen
    from quakesynth.evaluate.paired import PairedModel

    br = BroadbandRefiner(model_dir)
    assert isinstance(br, PairedModel)
    # what `quakesynth evaluate --model DIR` needs: one MODEL_LOADERS entry for "refiner" dirs
    assert isinstance(gen.load_model(model_dir), BroadbandRefiner)
    out = br.reproduce(records, np.array([3, 4]))
    assert out.data.shape == records.data.shape
    assert band_kept_error(out.data, _low(records).data, FS, 0.8).max() < 1e-4


def test_hybrid_baseline_keeps_the_input_and_adds_the_simulator_high_frequencies():
    """On simulator records (so the simulated high frequencies have the records' level) the merge
    keeps the input below 0.8 fc to a few per cent and restores the high frequencies' level."""
    from quakesynth.generate.stochastic import StochasticGenerator

    records = StochasticGenerator().generate(magnitude=6.0, distance=30, vs30=400, depth=10, gap=90, n=2, seed=5)
    low = _low(records)
    hyb = hybrid_baseline(low, fc=1.0, seed=0)
    assert hyb.data.shape == low.data.shape and hyb.processing(0)[-1]["step"] == "hybrid"
    assert band_kept_error(hyb.data, low.data, FS, 0.8).max() < 0.05
    hf = lambda x: np.sqrt(((x - crossover_lowpass(x, FS, 2.0)) ** 2).mean())  # noqa: E731
    assert 0.3 < hf(hyb.data) / hf(records.data) < 3
    meta = low.metadata.copy()
    meta["path_hyp_distance_km"] = np.nan
    with pytest.raises(ValueError, match="no distance"):
        hybrid_baseline(low.replace(metadata=meta))


def test_refine_cli_end_to_end_without_lightning(model_dir, records, tmp_path, capsys):
    from quakesynth.formats import read_records, write_records

    low = _low(records)
    src = write_records(low, tmp_path / "low.mseed")
    out = tmp_path / "broad.mseed"
    code = (f"import sys; from quakesynth.cli.main import main; rc = main(['refine', {str(src)!r}, '--model', "
            f"{str(model_dir)!r}, '-o', {str(out)!r}, '--steps', '2', '--magnitude', '6', '--distance', '30', "
            f"'--no-progress']); assert rc == 0, rc; "
            f"assert not [m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')]")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    got = read_records(out)
    assert got.data.shape == low.data.shape
    assert band_kept_error(got.data, low.data, FS, 0.8).max() < 1e-3  # miniSEED float32 round trip
    # a dataset store as input (scenario from its metadata), the network's own level above fc
    ds = write_records(low, tmp_path / "low_ds")
    assert main(["refine", str(ds), "--model", str(model_dir), "-o", str(tmp_path / "o.npz"), "--steps", "1",
                 "--hf-level", "model", "--no-progress"]) == 0
    assert read_records(tmp_path / "o.npz").processing(0)[-1]["hf_level"] == "model"
    # a record without magnitude: a one-line error and exit 2, unless --magnitude gives it
    meta = low.metadata.copy()
    meta["source_magnitude"] = np.nan
    bad = write_records(low.replace(metadata=meta), tmp_path / "nomag.mseed")
    capsys.readouterr()
    assert main(["refine", str(bad), "--model", str(model_dir), "-o", str(tmp_path / "x.mseed"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing scenario" in err and "--magnitude" in err
    assert main(["refine", str(bad), "--model", str(model_dir), "-o", str(tmp_path / "x.mseed"), "--magnitude", "5",
                 "--steps", "1", "--no-progress"]) == 0
    from conftest import assert_help_has_example

    assert main(["refine", "--help"]) == 0
    assert_help_has_example(capsys.readouterr().out, "refine")


SHARED = __import__("pathlib").Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "real" / "knet-kiknet").exists(), reason="../shared/data (K-NET records) absent")
def test_refine_reads_raw_knet_and_obspy_files(model_dir, tmp_path, capsys):
    """A raw K-NET record (distance from the header coordinates, Vs30 unknown: training mean) and
    a folder of SAC files from obspy.read()'s example (unit given by --input-unit)."""
    import obspy

    from quakesynth.formats import read_records

    out = tmp_path / "knet.mseed"
    assert main(["refine", str(SHARED / "real" / "knet-kiknet" / "knet_20240809_kanagawa"), "--model", str(model_dir),
                 "-o", str(out), "--steps", "1", "--no-progress"]) == 0
    assert read_records(out).components == "ZNE"
    sac = tmp_path / "sac"
    sac.mkdir()
    for tr in obspy.read():
        tr.write(str(sac / f"{tr.stats.channel}.SAC"), format="SAC")
    args = ["refine", str(sac), "--model", str(model_dir), "--magnitude", "5", "--distance", "50", "--steps", "1",
            "--no-progress", "-o"]
    assert main(args + [str(tmp_path / "counts.mseed")]) == 2  # counts: one-line error
    assert "counts" in capsys.readouterr().err
    assert main(args + [str(tmp_path / "v.mseed"), "--input-unit", "m/s"]) == 0
    assert read_records(tmp_path / "v.mseed").quantity == "velocity"


def test_records_with_fewer_or_other_components(model_dir, records):
    """One component (a single SAC file) or two horizontals named 1, 2 (PEER AT2): the missing
    model components are zero, the input's own components come back, their band kept."""
    from quakesynth.physics.broadband import component_channels

    assert component_channels("ZNE", "ZNE") == [0, 1, 2] and component_channels("EN", "ZNE") == [2, 1]
    with pytest.warns(UserWarning, match="refined as NE"):
        assert component_channels("12", "ZNE") == [1, 2]
    with pytest.raises(ValueError, match="takes components"):
        component_channels("Z12", "ZNE")
    br = BroadbandRefiner(model_dir)
    low = _low(records)
    for comps in ("Z", "EN"):
        sub = low.select_components(comps)
        with pytest.warns(UserWarning, match="lacks components"):
            out = br.refine(sub, num_steps=1)
        assert out.components == comps and band_kept_error(out.data, sub.data, FS, 0.8).max() < 1e-4
    two = Records(low.data[:, 1:], fs=FS, components="12", metadata=low.metadata)
    with pytest.warns(UserWarning):
        assert br.refine(two, num_steps=1).components == "12"
