"""The explicit amplitude path of HighFEM (quakesynth.models.amplitude): peak normalisation,
its effect on the log-spectrogram and Griffin-Lim, the conditional Gaussian amplitude model,
and a tiny vae -> edm run with ``amplitude.mode=peak`` whose generator outputs exactly the
sampled peaks; warm starts (``train --init``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quakesynth.models.amplitude import (
    AmplitudeConfig,
    AmplitudeModel,
    fit_amplitude_model,
    log_peaks,
    normalise_peaks,
    rescale_peaks,
    shape_features,
)
from quakesynth.repr.spectrogram import LogSpectrogram, SpectrogramConfig

TINY_SPEC = SpectrogramConfig(n_fft=64, hop=16, n_samples=1008)


def _waves(rng, n=4, t=1008):
    env = np.exp(-((np.arange(t) - 300) / 120.0) ** 2)
    return (rng.standard_normal((n, 3, t)) * env * 10 ** rng.uniform(-3, 0, (n, 3, 1))).astype(np.float32)


def test_normalise_then_rescale_round_trips_and_peaks_are_exact(rng):
    x = _waves(rng)
    x[1, 2] = 0.0  # a silent component stays silent
    y, a = normalise_peaks(x, reference=0.1)
    assert np.allclose(np.abs(y).max(-1)[np.abs(x).max(-1) > 0], 0.1, rtol=1e-6)
    assert np.all(y[1, 2] == 0)
    np.testing.assert_allclose(a[0], np.log10(np.abs(x[0].astype(np.float64)).max(-1)), rtol=1e-12)
    back = rescale_peaks(torch.from_numpy(y), torch.from_numpy(a)).numpy()
    np.testing.assert_allclose(back, x, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(log_peaks(back)[0], a[0], atol=1e-6)
    with pytest.raises(ValueError, match="reference"):
        normalise_peaks(x, reference=0.0)


def test_amplitude_is_a_pure_shift_of_the_log_spectrogram_and_griffin_lim_keeps_it(rng):
    """ln|S(kx)| = ln|S(x)| + ln k above the clip: the shape is amplitude-free; and phase
    retrieval commutes with the scale, so rescaling after Griffin-Lim equals before."""
    rep = LogSpectrogram(TINY_SPEC)
    x = _waves(rng, n=2)
    k = 37.0
    r1, r2 = rep.forward(x), rep.forward(k * x)
    above = rep.to_magnitude(r1) > 1e3 * TINY_SPEC.clip
    shift = 2 * np.log(k) / (TINY_SPEC.log_max - TINY_SPEC.log_clip)
    np.testing.assert_allclose((r2 - r1)[above], shift, atol=1e-5)
    w1 = rep.inverse(r1, n_iter=16, seed=[1, 2])
    w2 = rep.inverse(r2, n_iter=16, seed=[1, 2])
    np.testing.assert_allclose(w2, k * w1, rtol=1e-3, atol=1e-4 * np.abs(k * w1).max())


def _synthetic_amplitudes(rng, n):
    c = rng.standard_normal((n, 2)).astype(np.float32)
    mu = np.stack([0.5 * c[:, 0] - 0.3 * c[:, 1] - 1.0] * 3, axis=1) + np.array([0.0, 0.1, 0.1])
    cov = 0.09 * np.array([[1.0, 0.8, 0.8], [0.8, 1.0, 0.9], [0.8, 0.9, 1.0]])
    a = mu + rng.standard_normal((n, 3)) @ np.linalg.cholesky(cov).T
    return c, a.astype(np.float32), mu, cov


def test_amplitude_model_recovers_mean_and_covariance(rng):
    c, a, mu, cov = _synthetic_amplitudes(rng, 2000)
    model, report = fit_amplitude_model(c, a, AmplitudeConfig(mode="peak", steps=600, hidden=32), seed=0)
    with torch.no_grad():
        m, L = model(torch.from_numpy(c))
    assert np.abs(m.numpy() - mu).mean() < 0.03
    S = (L @ L.transpose(1, 2)).mean(0).numpy()
    np.testing.assert_allclose(S, cov, atol=0.02)
    assert sum(p.numel() for p in model.parameters()) < 10_000
    # the conditional model beats the unconditional Gaussian of the same data
    unc = 0.5 * np.linalg.slogdet(2 * np.pi * np.e * np.cov(a.T))[1]
    assert report["nll_train"] < unc - 0.5


def test_amplitude_samples_depend_on_their_seed_not_their_batch(rng):
    model = AmplitudeModel(2, 3, hidden=8, layers=1).eval()
    c = torch.from_numpy(rng.standard_normal((3, 2)).astype(np.float32))
    full = model.sample(c, [5, 6, 7])
    np.testing.assert_array_equal(full[1:2].numpy(), model.sample(c[1:2], [6]).numpy())
    assert not torch.equal(full[1], model.sample(c[1:2], [8])[0])
    with pytest.raises(ValueError, match="one seed per"):
        model.sample(c, [1])


def test_shape_features_are_scale_free_and_follow_the_frequency():
    """log10(PGV / PGA) of a windowed sine of f Hz is -log10(2 pi f); a scale changes nothing;
    a 4 times higher frequency lowers it by log10(4); silent components give 0."""
    t = np.arange(6000) / 100.0
    win = np.hanning(t.size)
    x = np.stack([np.sin(2 * np.pi * f * t) * win for f in (0.5, 2.0)])[None]  # (1, 2, T)
    x = np.concatenate([x, np.zeros((1, 1, t.size))], axis=1)
    s = shape_features(x, 100.0)
    np.testing.assert_allclose(s[0, :2], -np.log10(2 * np.pi * np.array([0.5, 2.0])), atol=0.02)
    assert s[0, 2] == 0.0
    np.testing.assert_allclose(shape_features(37.0 * x, 100.0), s, atol=1e-9)
    with pytest.raises(ValueError, match="shape"):
        shape_features(x[0], 100.0)


def test_spectral_shape_features_are_scale_free_and_read_band_duration():
    """``kind="spectral"``: 8 features per component, grouped by feature; the first group is the
    PGV / PGA feature; a 3 Hz windowed sine has its largest band level in 2-5 Hz, equal to the
    analytic |FFT| / fs over its peak there within the band averaging; a scale changes nothing;
    D5-95 of a 20-s boxcar of white noise is 0.9 x 20 s; silent components give 0."""
    from quakesynth.models.amplitude import SPECTRAL_BANDS_HZ, n_shape_features

    rng = np.random.default_rng(3)
    fs, t = 100.0, np.arange(6000) / 100.0
    sine = np.sin(2 * np.pi * 3.0 * t) * np.hanning(t.size)
    box = np.where((t > 10) & (t < 30), rng.standard_normal(t.size), 0.0)
    x = np.stack([sine, box, np.zeros_like(t)])[None]
    s = shape_features(x, fs, "spectral")
    nb = len(SPECTRAL_BANDS_HZ)
    assert s.shape == (1, n_shape_features("spectral", 3)) == (1, 3 * (2 + nb))
    np.testing.assert_allclose(s[:, :3], shape_features(x, fs), atol=1e-12)
    bands = s[0, 3:3 + 3 * nb].reshape(nb, 3)
    assert int(np.argmax(bands[:, 0])) == 3  # 2-5 Hz
    # D5-95 of the boxcar noise: 90 % of its 20 s
    assert 10 ** s[0, -2] == pytest.approx(18.0, rel=0.05)
    assert np.all(s[0, 2::3] == 0.0)  # the silent component
    np.testing.assert_allclose(shape_features(1e-3 * x, fs, "spectral"), s, atol=1e-9)
    with pytest.raises(ValueError, match="kind"):
        shape_features(x, fs, "none")


def test_spectral_features_give_the_peak_that_the_long_period_level_fixes(rng):
    """Toy of the physics behind ``shape: spectral``: every record has the same long-period
    Fourier level (one magnitude and distance), and its corner frequency, drawn at random, sets
    its peak. The band levels over the peak then determine the peak: the spectral model's residual
    sd is a fraction of the PGV / PGA model's, on held-out records."""
    from scipy.signal import butter, sosfiltfilt

    fs, n, T = 100.0, 240, 4064
    x = np.empty((n, 3, T))
    for i, fc in enumerate(10 ** rng.uniform(0.0, 1.2, n)):  # corner 1-16 Hz
        sos = butter(2, fc, fs=fs, output="sos")
        w = sosfiltfilt(sos, rng.standard_normal((3, T)), axis=-1) * np.hanning(T)
        x[i] = w / np.exp(np.log(np.abs(np.fft.rfft(w, axis=-1))[:, 8:20] / fs).mean(-1, keepdims=True))
    a = np.log10(np.abs(x).max(-1)).astype(np.float32)
    c = np.zeros((n, 1), np.float32)
    tr, va = slice(0, 180), slice(180, None)
    out = {}
    for kind in ("pgv", "spectral"):
        s = shape_features(x, fs, kind).astype(np.float32)
        model, _ = fit_amplitude_model(c[tr], a[tr], AmplitudeConfig(mode="peak", steps=400, hidden=32, shape=kind),
                                       seed=0, s=s[tr])
        with torch.no_grad():
            mu = model(torch.from_numpy(c[va]), torch.from_numpy(s[va]))[0].numpy()
        out[kind] = float((a[va] - mu).std())
    assert a.std() > 0.2 and out["spectral"] < 0.5 * out["pgv"], out


def _shape_dependent_amplitudes(rng, n):
    """log PGA = m(c) - s + small noise, with the shape feature s = log10(PGV / PGA) spread
    0.15: PGV (= a + s) varies less than PGA, as in the stochastic simulator."""
    c = rng.standard_normal((n, 2)).astype(np.float32)
    s = (-1.3 + 0.15 * rng.standard_normal((n, 1)) + 0.05 * rng.standard_normal((n, 3))).astype(np.float32)
    a = (0.4 * c[:, :1] - 1.0) - (s + 1.3) + 0.1 * rng.standard_normal((n, 3))
    return c, a.astype(np.float32), s


def test_shape_aware_amplitude_model_learns_the_joint_spread_of_pga_and_pgv(rng):
    """Conditioned on the shape's log10(PGV / PGA), the model puts the anti-correlation of PGA and
    PGV/PGA back: the spread of log PGV of its draws matches the data's, where a shape-blind model,
    fitted on the same data, over-states it."""
    c, a, s = _shape_dependent_amplitudes(rng, 3000)
    cfg = AmplitudeConfig(mode="peak", steps=600, hidden=32)
    blind, rb = fit_amplitude_model(c, a, cfg, seed=0)
    aware, ra = fit_amplitude_model(c, a, AmplitudeConfig(mode="peak", steps=600, hidden=32, shape="pgv"),
                                    seed=0, s=s)
    assert ra["nll_train"] < rb["nll_train"] - 1.0
    assert max(ra["sd_train"]) < 0.13 < min(rb["sd_train"])
    ct, st = torch.from_numpy(c), torch.from_numpy(s)
    seeds = list(range(len(c)))
    trend = 0.4 * c[:, :1] - 2.3  # the conditional mean of log PGV = a + s
    pgv_data = (a + s - trend).std(0)  # 0.1
    pgv_aware = (aware.sample(ct, seeds, st).numpy() + s - trend).std(0)
    pgv_blind = (blind.sample(ct, seeds).numpy() + s - trend).std(0)
    np.testing.assert_allclose(pgv_aware, pgv_data, rtol=0.15)
    assert np.all(pgv_blind > 1.5 * pgv_data)
    with pytest.raises(ValueError, match="needs shape features"):
        aware(ct[:2])
    with pytest.raises(ValueError, match="takes no shape features"):
        blind(ct[:2], st[:2])
    with pytest.raises(ValueError, match="shape features exactly"):
        fit_amplitude_model(c, a, cfg, s=s)
    with pytest.raises(ValueError, match="amplitude.shape"):
        AmplitudeConfig(shape="pgd")


def _make_default_model_tool():
    """tools/make_default_model.py as a module (it is a script, not part of the package)."""
    from refcompat import load_script

    return load_script("tools/make_default_model.py")


# -- end to end: tiny vae + edm with the amplitude path ---------------------------------------
@pytest.fixture(scope="module")
def amp_runs(tmp_path_factory):
    pytest.importorskip("lightning.pytorch")
    from quakesynth.cli.main import main
    from test_train_cli import make_tiny_dataset

    root = tmp_path_factory.mktemp("amp")
    data = make_tiny_dataset(root / "ds", n_events=24)
    vae, edm = root / "vae", root / "edm"
    assert main(["train", "vae", "--data", str(data), "--preset", "tiny", "--out", str(vae), "--quiet",
                 "--set", "amplitude.mode=peak", "--set", "train.max_steps=6"]) == 0
    assert main(["train", "edm", "--data", str(data), "--preset", "tiny", "--vae", str(vae), "--out", str(edm),
                 "--quiet", "--set", "train.max_steps=6", "--set", "amplitude.steps=800"]) == 0
    return data, vae, edm


def test_peak_mode_model_generates_the_sampled_peaks_with_the_data_scaling(amp_runs):
    import json

    import quakesynth
    from quakesynth.modeldir import load_model_dir
    from quakesynth.models.amplitude import load_amplitude_model

    _, vae, edm = amp_runs
    assert json.loads((vae / "model" / "config.json").read_text())["amplitude"] == {"mode": "peak", "reference": 0.1}
    config, states = load_model_dir(edm / "model")
    assert config["amplitude"]["mode"] == "peak" and "amplitude" in states
    gen = quakesynth.load_model(edm / "model")
    cond = np.array([[20.0, 6.8, 400.0, 10.0, 100.0], [180.0, 4.4, 400.0, 10.0, 100.0]])
    seeds = np.array([3, 4])
    wave = gen._generate(cond, seeds)[0]
    head = load_amplitude_model(config["amplitude"], states["amplitude"])
    want = head.sample(gen.normalise(cond), [3, 4]).numpy()
    np.testing.assert_allclose(log_peaks(wave), want, atol=1e-4)
    # the tiny data's amplitude ~ 10**(0.5 M - 1.3 log10 R): ~400 times between these scenarios
    big = [log_peaks(gen._generate(cond[:1], np.array([s]))[0]).mean() for s in range(6)]
    small = [log_peaks(gen._generate(cond[1:], np.array([s]))[0]).mean() for s in range(6)]
    assert np.median(big) - np.median(small) > 1.5
    # per-waveform seeding: the same waveform alone or in a batch
    np.testing.assert_allclose(gen._generate(cond[1:], seeds[1:])[0], wave[1:], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(head.sample(gen.normalise(cond[1:]), [4]).numpy(), want[1:])


def test_paper_like_model_without_amplitude_section_is_unchanged(tmp_path):
    from quakesynth.generate.highfem import HighFEMGenerator
    from quakesynth.generate.toy import random_model

    config, states = random_model("tiny")
    gen = HighFEMGenerator(config, states, gl_iters=2)
    assert gen.amplitude is None
    with pytest.raises(ValueError, match="amplitude"):
        HighFEMGenerator({**config, "amplitude": {"mode": "peak"}}, states)


def test_warm_start_copies_matching_weights(amp_runs, tmp_path):
    import warnings

    from quakesynth.config import from_dict
    from quakesynth.modeldir import load_model_dir
    from quakesynth.models.vae import VAEConfig
    from quakesynth.train.config import TrainConfig
    from quakesynth.train.modules import VAEModule
    from quakesynth.train.run import warm_start

    _, vae, edm = amp_runs
    config, states = load_model_dir(vae / "model")
    module = VAEModule(TINY_SPEC, from_dict(VAEConfig, config["vae"]), TrainConfig())
    counts = warm_start(module, "vae", vae)
    assert counts["skipped"] == 0
    for k, v in module.vae.state_dict().items():
        assert torch.equal(v, states["vae"][k])
    # a wider network: the mismatching tensors keep their initialisation, with a warning
    wide = VAEModule(TINY_SPEC, from_dict(VAEConfig, {**config["vae"], "latent_channels": 6}), TrainConfig())
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        counts = warm_start(wide, "vae", vae)
    assert 0 < counts["copied"] < counts["total"] and any("fresh initialisation" in str(x.message) for x in w)
    with pytest.raises(ValueError, match="no 'edm' weights"):
        warm_start(wide, "edm", vae)


def test_train_cli_init_starts_from_the_given_weights(amp_runs, tmp_path):
    """--init: the new run starts from the old model's weights (one step at a negligible
    learning rate leaves them unchanged) and records where it started."""
    import yaml

    from quakesynth.cli.main import main
    from quakesynth.modeldir import load_model_dir

    data, vae, _ = amp_runs
    out = tmp_path / "vae2"
    assert main(["train", "vae", "--data", str(data), "--preset", "tiny", "--out", str(out), "--quiet",
                 "--set", "amplitude.mode=peak", "--set", "train.max_steps=1", "--set", "train.lr=1.0e-12",
                 "--set", "train.checkpoint_every=1", "--init", str(vae)]) == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["init"] == str(vae)
    _, old = load_model_dir(vae / "model")
    _, new = load_model_dir(out / "model")
    for k, v in old["vae"].items():  # one step at lr 1e-12 from the old (EMA) weights
        torch.testing.assert_close(new["vae_raw"][k], v, rtol=1e-6, atol=1e-6)


def test_make_default_model_keeps_the_amplitude_path_and_sets_guidance(amp_runs, tmp_path):
    """tools/make_default_model.py: vae + EMA edm + amplitude weights (edm_raw dropped), sampler,
    classifier-free guidance scale and speckle stored; the generator uses them (the tiny run trained
    with cond_dropout 0.1, so the null conditioning is learned)."""

    import quakesynth
    from quakesynth.modeldir import load_model_dir

    _, _, edm = amp_runs
    mod = _make_default_model_tool()
    out = tmp_path / "default"
    assert mod.main([str(edm / "model"), str(out), "--solver", "dpmpp2m", "--steps", "4", "--guidance", "2.5"]) == 0
    config, states = load_model_dir(out)
    assert sorted(states) == ["amplitude", "edm", "vae"] and config["name"] == "default"
    assert config["sampler"]["guidance"] == 2.5 and config["sampler"]["num_steps"] == 4
    # the description states the model's own latent shape and U-Net size, not a fixed text
    from quakesynth.config import from_dict
    from quakesynth.models.vae import VAEConfig

    vae_cfg = from_dict(VAEConfig, config["vae"])
    shape = vae_cfg.latent_shape((vae_cfg.in_channels, *TINY_SPEC.shape))
    assert f"VAE {'x'.join(map(str, shape))} latent" in config["description"]
    n_unet = sum(v.numel() for v in states["edm"].values() if v.is_floating_point())
    assert f"U-Net {n_unet / 1e6:.1f} M parameters" in config["description"]
    guided = quakesynth.load_model(out)
    assert guided.info()["sampler"]["guidance"] == 2.5
    plain = quakesynth.load_model(out, guidance=1.0)
    cond, seeds = np.array([[50.0, 5.5, 400.0, 10.0, 100.0]]), np.array([9])
    a, b = guided._generate(cond, seeds)[0], plain._generate(cond, seeds)[0]
    assert np.isfinite(a).all() and not np.allclose(a, b)
    # the amplitude path makes the peaks identical: guidance changes the shape only
    np.testing.assert_allclose(log_peaks(a), log_peaks(b), atol=1e-4)
    assert "phase_retrieval" not in config and not guided.speckle  # kept unless asked for
    speckled = tmp_path / "speckled"
    assert mod.main([str(edm / "model"), str(speckled), "--steps", "4", "--speckle", "on",
                     "--guidance", "2", "--guidance-interval", "0.3", "5"]) == 0
    assert load_model_dir(speckled)[0]["phase_retrieval"] == {"speckle": True}
    sampler = quakesynth.load_model(speckled).sampler
    assert (sampler.guidance, sampler.guidance_sigma_min, sampler.guidance_sigma_max) == (2.0, 0.3, 5.0)
    assert quakesynth.load_model(speckled).speckle and not quakesynth.load_model(speckled, speckle=False).speckle


def test_refit_amplitude_replaces_the_amplitude_model(amp_runs, tmp_path):
    """tools/make_default_model.py --amplitude-data: a fresh fit with the model's conditioning
    normaliser; the generator then draws its peaks from the new weights."""

    import quakesynth
    from quakesynth.modeldir import load_model_dir
    from quakesynth.train.recipes import refit_amplitude

    data, vae, edm = amp_runs
    config, states = load_model_dir(edm / "model")
    section, state = refit_amplitude(config, data, AmplitudeConfig(steps=50), seed=1)
    assert section["mode"] == "peak" and section["reference"] == config["amplitude"]["reference"]
    assert set(state) == set(states["amplitude"]) and any(not torch.equal(state[k], states["amplitude"][k]) for k in state)
    with pytest.raises(ValueError, match="no amplitude path"):
        refit_amplitude({**config, "amplitude": {"mode": "none"}}, data)
    mod = _make_default_model_tool()
    out = tmp_path / "refit"
    assert mod.main([str(edm / "model"), str(out), "--amplitude-data", str(data), "--amplitude-steps", "50"]) == 0
    _, new = load_model_dir(out)
    gen = quakesynth.load_model(out)
    cond = np.array([[50.0, 5.5, 400.0, 10.0, 100.0]])
    head = gen.amplitude
    np.testing.assert_allclose(log_peaks(gen._generate(cond, np.array([2]))[0]),
                               head.sample(gen.normalise(cond), [2]).numpy(), atol=1e-4)
    assert any(not torch.equal(new["amplitude"][k], states["amplitude"][k]) for k in state)


def test_shape_aware_refit_scales_each_generated_shape_by_its_own_pgv_ratio(amp_runs, tmp_path):
    """make_default_model.py --amplitude-shape pgv: the generator computes the shape features of
    the phase-retrieved shape and draws the peaks from p(a | c, s); an older model folder (no
    ``shape`` key) still loads as shape-blind."""

    import quakesynth
    from quakesynth.modeldir import load_model_dir

    data, _, edm = amp_runs
    mod = _make_default_model_tool()
    out = tmp_path / "shape"
    assert mod.main([str(edm / "model"), str(out), "--amplitude-data", str(data), "--amplitude-steps", "50",
                     "--amplitude-shape", "pgv"]) == 0
    config, _ = load_model_dir(out)
    assert config["amplitude"]["shape"] == "pgv"
    gen = quakesynth.load_model(out)
    assert gen.amplitude.shape_features == 3
    cond = np.array([[50.0, 5.5, 400.0, 10.0, 100.0]] * 2)
    seeds = np.array([2, 3])
    c = gen.normalise(cond)
    shapes = gen.invert(gen.decode(gen.sample_latents(c, seeds)), seeds)
    s = torch.from_numpy(shape_features(shapes.numpy(), gen.spectrogram.fs))
    wave = gen._generate(cond, seeds)[0]
    np.testing.assert_allclose(log_peaks(wave), gen.amplitude.sample(c, [2, 3], s).numpy(), atol=1e-4)
    assert gen.amplitude.sample(c, [2, 3], s + 0.5).numpy().mean() != pytest.approx(log_peaks(wave).mean(), abs=1e-3)
    assert "shape" not in load_model_dir(edm / "model")[0]["amplitude"]
    assert quakesynth.load_model(edm / "model").amplitude.shape_features == 0
    with pytest.raises(SystemExit):
        mod.main([str(edm / "model"), str(tmp_path / "x"), "--amplitude-shape", "pgv"])
    # the spectral features the same way: 8 per component, computed on the generated shape
    spec = tmp_path / "spectral"
    assert mod.main([str(edm / "model"), str(spec), "--amplitude-data", str(data), "--amplitude-steps", "50",
                     "--amplitude-shape", "spectral"]) == 0
    gen = quakesynth.load_model(spec)
    assert gen.amplitude.shape_features == 24 and gen.amplitude.shape_kind == "spectral"
    shapes = gen.invert(gen.decode(gen.sample_latents(c, seeds)), seeds)
    s = torch.from_numpy(shape_features(shapes.numpy(), gen.spectrogram.fs, "spectral"))
    np.testing.assert_allclose(log_peaks(gen._generate(cond, seeds)[0]), gen.amplitude.sample(c, [2, 3], s).numpy(),
                               atol=1e-4)
