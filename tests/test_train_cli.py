"""``quakesynth train`` end to end on a tiny dataset: vae -> edm (a complete generator that
``quakesynth.load_model`` opens) -> classifier; resume; bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("lightning.pytorch")

from quakesynth.cli.main import main  # noqa: E402
from quakesynth.records import Records  # noqa: E402


def make_tiny_dataset(path, n_events=16, per_event=2, n_samples=1024, fs=100.0, seed=0):
    """A dataset store of synthetic accelerograms (band-limited noise under an envelope whose
    amplitude grows with magnitude and decays with distance) and their scenario metadata."""
    from quakesynth.data.store import DatasetWriter

    rng = np.random.default_rng(seed)
    n = n_events * per_event
    mag = np.repeat(rng.uniform(4.2, 7.0, n_events), per_event)
    dist = rng.uniform(10, 190, n)
    t = np.arange(n_samples) / fs
    env = (t / 3.0) * np.exp(1 - t / 3.0)
    amp = 10 ** (0.5 * mag - 1.3 * np.log10(dist) - 2.0)
    noise = rng.standard_normal((n, 3, n_samples))
    data = (amp[:, None, None] * env * noise).astype(np.float32)
    meta = pd.DataFrame({
        "trace_name": [f"r{i:03d}" for i in range(n)],
        "source_id": [f"ev{i // per_event:02d}" for i in range(n)],
        "source_magnitude": mag, "path_hyp_distance_km": dist,
        "station_vs30_mps": rng.uniform(200, 800, n), "source_depth_km": rng.uniform(5, 40, n),
        "path_azimuthal_gap_deg": rng.uniform(30, 200, n),
    })
    with DatasetWriter(path, fs=fs, components="ZNE", split_fractions=(0.6, 0.2, 0.2)) as w:
        w.add(Records(data, fs=fs, components="ZNE", metadata=meta))
    return path


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Train the tiny vae, edm and classifier once for the module (a few seconds each)."""
    root = tmp_path_factory.mktemp("train")
    data = make_tiny_dataset(root / "ds")
    runs = {k: root / k for k in ("vae", "edm", "classifier")}
    assert main(["train", "vae", "--data", str(data), "--preset", "tiny", "--out", str(runs["vae"]), "--quiet"]) == 0
    assert main(["train", "edm", "--data", str(data), "--preset", "tiny", "--vae", str(runs["vae"]),
                 "--out", str(runs["edm"]), "--quiet", "--set", "train.max_steps=12"]) == 0
    assert main(["train", "classifier", "--data", str(data), "--preset", "tiny", "--out", str(runs["classifier"]),
                 "--quiet", "--set", "train.max_steps=10"]) == 0
    return data, runs


def test_runs_write_config_checkpoints_curves_and_model(tiny_runs):
    import yaml

    _, runs = tiny_runs
    for kind, run in runs.items():
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        assert cfg["kind"] == kind and "train" in cfg["config"]
        assert (run / "checkpoints" / "last.ckpt").exists()
        curve = pd.read_csv(run / "logs" / "metrics.csv")
        assert curve["train/loss"].notna().sum() == cfg["config"]["train"]["max_steps"]
        model = json.loads((run / "model" / "config.json").read_text())
        assert model["format"] == "quakesynth-model" and model["quakesynth_version"]
        assert model["provenance"]["steps"] == cfg["config"]["train"]["max_steps"]
    edm_cfg = yaml.safe_load((runs["edm"] / "config.yaml").read_text())["config"]
    assert edm_cfg["edm"]["sigma_data"] > 0 and edm_cfg["latent"]["auto_sigma_data"] is False
    assert edm_cfg["unet"]["cond_features"] == 5 and edm_cfg["unet"]["in_channels"] == 4


def test_vae_loss_falls(tiny_runs):
    _, runs = tiny_runs
    loss = pd.read_csv(runs["vae"] / "logs" / "metrics.csv")["train/loss"].dropna().to_numpy()
    assert loss[-5:].mean() < loss[:5].mean()


def test_edm_model_is_a_generator(tiny_runs):
    import quakesynth

    _, runs = tiny_runs
    gen = quakesynth.load_model(runs["edm"] / "model")
    model = json.loads((runs["edm"] / "model" / "config.json").read_text())
    cond = model["conditioning"]
    assert cond["variables"] == ["distance", "magnitude", "vs30", "depth", "gap"]
    assert cond["transforms"] == ["log10", "none", "log10", "none", "none"]
    # conditioning statistics come from the train split only
    from quakesynth.data.store import Dataset

    train_meta = Dataset(tiny_runs[0]).split("train").metadata
    assert cond["shift"][1] == pytest.approx(train_meta["source_magnitude"].mean())
    lo, hi = gen.ranges["magnitude"]
    assert lo == pytest.approx(train_meta["source_magnitude"].min())
    rec = gen.generate(magnitude=(lo + hi) / 2, distance=50, vs30=400, depth=10, gap=100, n=2, seed=3)
    assert rec.data.shape == (2, 3, 1008) and rec.unit == "m/s^2" and rec.fs == 100.0
    assert np.isfinite(rec.data).all()
    same = gen.generate(magnitude=(lo + hi) / 2, distance=50, vs30=400, depth=10, gap=100, n=2, seed=3)
    np.testing.assert_array_equal(rec.data, same.data)
    # a sample depends on its seed, not on its batch (up to float rounding of batched convolutions)
    c = gen.normalise(np.array([[50.0, 5.5, 400.0, 10.0, 100.0]] * 2))
    both = gen.sample_latents(c, [11, 12])
    torch.testing.assert_close(gen.sample_latents(c[1:], [12])[0], both[1], rtol=1e-4, atol=1e-4)
    other = gen.generate(magnitude=(lo + hi) / 2, distance=50, vs30=400, depth=10, gap=100, n=2, seed=4)
    assert not np.allclose(other.data, rec.data)
    with pytest.raises(ValueError, match="outside the range"):
        gen.generate(magnitude=hi + 1, distance=50, vs30=400, depth=10, gap=100)


def test_model_directory_is_weights_only_and_reloads_identically(tiny_runs):
    from quakesynth.generate.highfem import load_generator
    from quakesynth.modeldir import load_model_dir

    _, runs = tiny_runs
    config, states = load_model_dir(runs["edm"] / "model")
    assert set(states) == {"vae", "edm", "edm_raw"}
    for f in (runs["edm"] / "model").glob("*.pt"):
        torch.load(f, weights_only=True)  # plain tensors only
    a = load_generator(runs["edm"], num_steps=2, gl_iters=4)  # the run folder works too
    b = load_generator(runs["edm"] / "model", num_steps=2, gl_iters=4)
    x = a._generate(np.array([[50.0, 5.5, 400.0, 10.0, 100.0]]), np.array([7]))[0]
    np.testing.assert_array_equal(x, b._generate(np.array([[50.0, 5.5, 400.0, 10.0, 100.0]]), np.array([7]))[0])
    raw = load_generator(runs["edm"], weights="raw", num_steps=2, gl_iters=4)
    assert not np.array_equal(x, raw._generate(np.array([[50.0, 5.5, 400.0, 10.0, 100.0]]), np.array([7]))[0])


def test_classifier_model_and_embedding(tiny_runs):
    from quakesynth.config import from_dict
    from quakesynth.data.store import Dataset
    from quakesynth.modeldir import load_model_dir
    from quakesynth.models.classifier import ClassifierConfig, SpectrogramClassifier
    from quakesynth.repr.spectrogram import LogSpectrogram, SpectrogramConfig
    from quakesynth.train.data import waveforms

    data, runs = tiny_runs
    config, states = load_model_dir(runs["classifier"] / "model")
    assert config["model"] == "classifier" and len(config["classes"]) == 36
    assert sum(config["provenance"]["class_counts"]) > 0
    net = SpectrogramClassifier(from_dict(ClassifierConfig, config["classifier"])).eval()
    net.load_state_dict(states["classifier"])
    spec = from_dict(SpectrogramConfig, config["spectrogram"])
    rec = Dataset(data).split("test").get([0, 1])
    x = LogSpectrogram(spec).forward(torch.from_numpy(waveforms(rec, spec.n_samples, spec.fs,
                                                                config["waveform"]["components"])))
    with torch.no_grad():
        assert net(x).shape == (2, 36) and net.embed(x).shape == (2, 16)


def test_resume_continues_a_run(tiny_runs, tmp_path):
    data, _ = tiny_runs
    out = tmp_path / "vae"
    assert main(["train", "vae", "--data", str(data), "--preset", "tiny", "--out", str(out), "--quiet",
                 "--set", "train.max_steps=10"]) == 0
    assert main(["train", "vae", "--data", str(data), "--preset", "tiny", "--out", str(out), "--quiet",
                 "--resume", "--set", "train.max_steps=14"]) == 0
    ck = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert ck["global_step"] == 14
    assert pd.read_csv(out / "logs" / "metrics.csv")["train/loss"].notna().sum() == 14


def test_bad_input_is_one_line_error(tiny_runs, tmp_path, capsys):
    data, runs = tiny_runs
    assert main(["train", "vae", "--data", str(data), "--preset", "tiny", "--out", str(runs["vae"])]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["train", "edm", "--data", str(data), "--preset", "tiny", "--out", str(tmp_path / "e")]) == 2
    assert "--vae" in capsys.readouterr().err
    assert main(["train", "vae", "--data", str(data), "--preset", "tiny", "--out", str(tmp_path / "v"),
                 "--set", "train.nope=1"]) == 2
    assert "unknown key" in capsys.readouterr().err
    assert main(["train", "vae", "--data", str(tmp_path / "missing"), "--preset", "tiny",
                 "--out", str(tmp_path / "w")]) == 2


def test_decoder_only_finetune_keeps_the_latent_space(tiny_runs, tmp_path):
    """``vae_train.part=decoder`` trains the decoder on the frozen encoder's posterior means:
    the encoder is bit-identical to the init's (so a denoiser trained on its latents stays
    valid), the decoder moves, and tools/make_default_model.py --decoder swaps it into the
    generator, refusing a VAE whose encoder differs."""
    import quakesynth
    from quakesynth.modeldir import load_model_dir
    from test_models_amplitude import _make_default_model_tool

    data, runs = tiny_runs
    out = tmp_path / "dec"
    assert main(["train", "vae", "--data", str(data), "--preset", "tiny", "--out", str(out), "--quiet",
                 "--init", str(runs["vae"]), "--set", "vae_train.part=decoder", "--set", "train.max_steps=6",
                 "--set", "train.lr=0.003"]) == 0
    old, new = load_model_dir(runs["vae"] / "model")[1]["vae"], load_model_dir(out / "model")[1]["vae"]
    enc = [k for k in old if k.startswith("encoder.")]
    dec = [k for k in old if k.startswith("decoder.")]
    assert enc and dec and all(torch.equal(old[k], new[k]) for k in enc)
    assert not all(torch.equal(old[k], new[k]) for k in dec)
    curve = pd.read_csv(out / "logs" / "metrics.csv")
    assert "train/kl" not in curve or curve["train/kl"].isna().all()  # the loss is the reconstruction alone

    tool = _make_default_model_tool()
    target = tmp_path / "default"
    assert tool.main([str(runs["edm"] / "model"), str(target), "--steps", "3", "--decoder", str(out / "model")]) == 0
    config, states = load_model_dir(target)
    assert all(torch.equal(states["vae"][k], new[k]) for k in enc + dec)
    assert config["provenance"]["vae_decoder"] == str(out / "model")
    wave = quakesynth.load_model(target).generate(magnitude=5.5, distance=40.0, vs30=400.0, depth=10.0,
                                                  gap=100.0, n=1, seed=0).data
    assert np.isfinite(wave).all()
    other = tmp_path / "other"  # a VAE trained in full has another encoder: refused
    assert main(["train", "vae", "--data", str(data), "--preset", "tiny", "--out", str(other), "--quiet",
                 "--init", str(runs["vae"]), "--set", "train.max_steps=3", "--set", "train.lr=0.003"]) == 0
    with pytest.raises(SystemExit, match="different encoder"):
        tool.main([str(runs["edm"] / "model"), str(tmp_path / "x"), "--decoder", str(other / "model")])


def test_decoder_only_module_keeps_the_encoder_frozen_and_in_eval_mode():
    from quakesynth.models.vae import VAEConfig
    from quakesynth.repr.spectrogram import SpectrogramConfig
    from quakesynth.train.config import TrainConfig, VAEPartConfig
    from quakesynth.train.modules import VAEModule

    m = VAEModule(SpectrogramConfig(), VAEConfig(), TrainConfig(), VAEPartConfig(part="decoder")).train()
    assert not m.vae.encoder.training and m.vae.decoder.training
    assert not any(p.requires_grad for p in m.vae.encoder.parameters())
    assert all(p.requires_grad for p in m.vae.decoder.parameters())
    assert VAEModule(SpectrogramConfig(), VAEConfig(), TrainConfig()).train().vae.encoder.training
    with pytest.raises(ValueError, match="vae_train.part"):
        VAEPartConfig(part="encoder")


def test_s_arrival_channel_is_fitted_to_the_picks_and_generates(tmp_path, capsys):
    """``latent.s_arrival``: ``unet.arrival`` holds the least-squares line of the training split's
    S picks against hypocentral distance (exact here: the picks lie on t_S = 1 s + 0.04 s/km R)
    and the inverse of the log10 distance normalisation; the model generates; a dataset without
    picks is refused in one line."""
    import quakesynth
    from quakesynth.data.store import DatasetWriter
    from quakesynth.train.data import read_split

    src = make_tiny_dataset(tmp_path / "plain")
    parts = [read_split(src, s) for s in ("train", "dev", "test")]
    data = tmp_path / "picked"
    with DatasetWriter(data, fs=100.0, components="ZNE", split_fractions=(0.6, 0.2, 0.2)) as w:
        for part in parts:
            md = part.metadata.reset_index(drop=True).copy()
            md["trace_s_arrival_sample"] = (1.0 + 0.04 * md["path_hyp_distance_km"]) * 100.0
            w.add(Records(part.data, fs=100.0, components="ZNE", metadata=md))
    vae, edm = tmp_path / "vae", tmp_path / "edm"
    assert main(["train", "vae", "--data", str(data), "--preset", "tiny", "--out", str(vae), "--quiet",
                 "--set", "train.max_steps=3"]) == 0
    assert main(["train", "edm", "--data", str(data), "--preset", "tiny", "--vae", str(vae), "--out", str(edm),
                 "--quiet", "--set", "train.max_steps=3", "--set", "latent.s_arrival=true"]) == 0
    config = json.loads((edm / "model" / "config.json").read_text())
    index, shift, scale, t0, slowness, window = config["unet"]["arrival"]
    cond = config["conditioning"]
    assert index == 0 and cond["variables"][0] == "distance"
    assert (shift, scale) == (cond["shift"][0], cond["scale"][0])
    assert t0 == pytest.approx(1.0, abs=1e-6) and slowness == pytest.approx(0.04, abs=1e-8)
    assert window == pytest.approx(config["spectrogram"]["n_samples"] / config["spectrogram"]["fs"])
    wave = quakesynth.load_model(edm / "model").generate(magnitude=5.5, distance=40.0, vs30=400.0, depth=10.0,
                                                         gap=100.0, n=1, seed=0).data
    assert np.isfinite(wave).all()
    capsys.readouterr()
    assert main(["train", "edm", "--data", str(src), "--preset", "tiny", "--vae", str(vae), "--out",
                 str(tmp_path / "nopicks"), "--quiet", "--set", "train.max_steps=3",
                 "--set", "latent.s_arrival=true"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trace_s_arrival_sample" in err[0]
