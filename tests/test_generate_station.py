"""Site-specific training entry points, generators (k-averaging, seeds, save/load) and the
station corpus (tiny synthetic data and tiny models)."""

import numpy as np
import pandas as pd
import pytest
import torch

from quakesynth.records import Records

CODES = ["ST01", "ST02", "ST03"]


def _synthetic_records(n_per_station=8, T=128, fs=50.0, seed=0):
    """Three stations, each a damped sinusoid of its own frequency in the horizontals."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / fs
    data, meta = [], []
    for s, f in enumerate((2.0, 5.0, 9.0)):
        for i in range(n_per_station):
            env = np.exp(-((t - 1.0) / 0.6) ** 2)
            h = env * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3, (2, 1)))
            v = 0.3 * env * rng.standard_normal(T)
            data.append(np.concatenate([v[None], h]) * 10 ** rng.uniform(-2, -1))
            meta.append({"station_code": CODES[s], "source_id": f"ev{s}_{i}", "trace_name": f"r{s}_{i}"})
    return Records(np.array(data, np.float32), fs=fs, components="ZNE", metadata=pd.DataFrame(meta))


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    from quakesynth.data.store import DatasetWriter

    path = tmp_path_factory.mktemp("sg") / "ds"
    with DatasetWriter(path, fs=50.0, components="ZNE", split_fractions=(0.75, 0.125, 0.125)) as w:
        w.add(_synthetic_records())
    return path


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Model directories with random weights (the generators need no training to be tested)."""
    from quakesynth.models.cvae import CVAE, CVAEConfig
    from quakesynth.models.timesnet import TimesNetAE, TimesNetConfig
    from quakesynth.sitegen.data import station_pool
    from quakesynth.sitegen.export import save_cvae, save_timesnet

    out = tmp_path_factory.mktemp("models")
    pool = station_pool(_synthetic_records())
    torch.manual_seed(0)
    tcfg = TimesNetConfig(n_samples=128, d_model=8, d_ff=8, num_kernels=2, e_layers=1, d_layers=1,
                          latent_channels=4, n_stations=3)
    tn = save_timesnet(out / "tn" / "model", tcfg, TimesNetAE(tcfg).state_dict(), TimesNetAE(tcfg).state_dict(), pool)
    ccfg = CVAEConfig(n_samples=128, n_fft=32, hop=16, channels=4, latent_dim=8, n_stations=3)
    cv = save_cvae(out / "cv" / "model", ccfg, CVAE(ccfg).state_dict(), pool)
    return tn, cv


@pytest.mark.slow
def test_training_entry_points(tiny_dataset, tmp_path):
    from quakesynth.generate import load_model as load_generator
    from quakesynth.modeldir import load_model_dir
    from quakesynth.train.config import resolve_config
    from quakesynth.train.recipes import train_cvae, train_timesnet

    cfg = resolve_config("timesnet", "tiny")
    tn = train_timesnet(tiny_dataset, tmp_path / "tn", cfg, progress=False)
    cv = train_cvae(tiny_dataset, tmp_path / "cv", cfg, progress=False)
    for sub in ("phase0", "phase1"):
        assert (tmp_path / "tn" / sub / "checkpoints" / "last.ckpt").exists()
    config, states = load_model_dir(tn)
    assert config["provenance"]["n_train"] == len(states["pools"]["station"])
    # phase 1 starts from phase 0 and moves away from it
    assert any(not torch.equal(states["timesnet"][k], states["timesnet_pretrained"][k]) for k in states["timesnet"])
    for path in (tn, cv):
        assert load_generator(tmp_path / path.parent.name).generate(station="ST01", n=2).data.shape == (2, 3, 128)
    with pytest.raises(FileExistsError):
        train_cvae(tiny_dataset, tmp_path / "cv", cfg, progress=False)


def test_normalise_keeps_component_ratios():
    from quakesynth.sitegen.data import normalise

    x = np.random.default_rng(0).standard_normal((4, 3, 50))
    xn, ln_a = normalise(x)
    assert np.allclose(np.abs(xn).max(axis=(1, 2)), 1.0)
    assert np.allclose(xn * np.exp(ln_a)[:, None, None], x, rtol=1e-6)
    with pytest.raises(ValueError, match="peak"):
        normalise(np.zeros((1, 3, 4)))


def test_pool_and_model_directories(tiny_dataset, tiny_models):
    from quakesynth.modeldir import load_model_dir
    from quakesynth.sitegen.data import load_pool

    pool = load_pool(tiny_dataset, "train")
    assert pool.codes == CODES and pool.wave.shape[1:] == (3, 128)
    assert len(pool) < 24 and set(pool.metadata["split"]) == {"train"}
    cfg, states = load_model_dir(tiny_models[0])
    assert cfg["model"] == "timesnet_gen" and cfg["stations"] == CODES
    assert set(states) == {"timesnet", "timesnet_pretrained", "pools"}
    assert states["pools"]["z_cond"].shape[0] == 24
    cfg, states = load_model_dir(tiny_models[1])
    assert cfg["model"] == "site_cvae" and states["amplitude"]["ln_peak_mean"].shape == (3,)


@pytest.mark.parametrize("which", [0, 1])
def test_generate_station_api_and_seeds(tiny_models, which):
    from quakesynth.generate import ConditioningError
    from quakesynth.generate import load_model as load_generator

    gen = load_generator(tiny_models[which])
    rec = gen.generate(station="ST02", n=3, seed=5)
    assert rec.data.shape == (3, 3, 128) and np.isfinite(rec.data).all()
    assert (rec.metadata["station_code"] == "ST02").all()
    again = load_generator(tiny_models[which]).generate(station="ST02", n=3, seed=5)  # save/load identity
    assert np.array_equal(rec.data, again.data)
    # a waveform depends on its seed, not on its batch
    table = pd.DataFrame({"station": ["ST01", "ST02"], "n": [2, 3]})
    whole = gen.generate_table(table, seed=5)
    split = gen.generate_table(table, seed=5, batch_size=2)
    np.testing.assert_allclose(whole.data, split.data, rtol=1e-5, atol=1e-7)
    assert not np.allclose(gen.generate(station="ST02", n=3, seed=6).data, rec.data)
    with pytest.raises(ConditioningError, match="ST99"):
        gen.generate(station="ST99")
    assert gen.info()["variables"]["station"]["values"] == CODES


def test_v1_model_directory_still_loads(tmp_path):
    # directories written before TimesNetConfig.upsample existed hold interpolating decoders
    import json

    from quakesynth.generate import load_model as load_generator
    from quakesynth.models.timesnet import TimesNetAE, TimesNetConfig
    from quakesynth.sitegen.data import station_pool
    from quakesynth.sitegen.export import save_timesnet

    cfg = TimesNetConfig(n_samples=128, d_model=8, d_ff=8, num_kernels=2, e_layers=1, d_layers=1, latent_stride=4,
                         latent_channels=4, n_stations=3, upsample="interpolate")
    torch.manual_seed(0)
    state = TimesNetAE(cfg).state_dict()
    path = save_timesnet(tmp_path / "v1" / "model", cfg, state, state, station_pool(_synthetic_records()))
    config = json.loads((path / "config.json").read_text())
    del config["timesnet"]["upsample"]
    (path / "config.json").write_text(json.dumps(config))
    gen = load_generator(path)
    assert gen.net_cfg.upsample == "interpolate"
    assert gen.generate(station="ST01", n=2, seed=0).data.shape == (2, 3, 128)


def test_k_averaging_semantics(tiny_models):
    from quakesynth.generate import load_model as load_generator

    gen = load_generator(tiny_models[0], k=3, sampling="mean")
    seeds = np.array([11, 12])
    station = np.array([1, 1])
    z, amp = gen.sample_latents(station, seeds)
    rows = np.flatnonzero(gen.pool_station == 1)
    # the same draw as the generator: k pool rows chosen from the seed, latents averaged
    for b, s in enumerate(seeds):
        pick = np.random.default_rng([int(s), 17]).choice(rows, size=3, replace=len(rows) < 3)
        assert torch.allclose(z[b], gen.z["conditioned"][pick].mean(0))
        assert np.isclose(amp[b], np.exp(gen.pool_ln_peak[pick].mean()))
    gen.sampling = "single"
    z1, _ = gen.sample_latents(station, seeds)
    assert any(torch.equal(z1[0], gen.z["conditioned"][r]) for r in rows)
    gen.sampling = "noise"
    zn, _ = gen.sample_latents(station, seeds)
    sigma = gen.z["conditioned"][rows].std(0)
    dev = (zn - z) / sigma.clamp(min=1e-12)
    assert 0.05 < float(dev.std()) < 0.15  # noise_scale (default 0.1) x the station's latent sd
    gen.noise_scale = 1.0
    dev = (gen.sample_latents(station, seeds)[0] - z) / sigma.clamp(min=1e-12)
    assert 0.5 < float(dev.std()) < 1.5
    with pytest.raises(ValueError, match="sampling"):
        load_generator(tiny_models[0], sampling="bogus")


def test_zero_shot_new_station(tiny_models):
    from quakesynth.generate import load_model as load_generator

    gen = load_generator(tiny_models[0], mode="zeroshot")
    new = _synthetic_records(4, seed=9)
    gen.add_station("NEW1", new)
    rec = gen.generate(station="NEW1", n=2, seed=0)
    assert rec.data.shape == (2, 3, 128) and np.isfinite(rec.data).all()
    gen.mode = "conditioned"
    with pytest.raises(ValueError, match="zero-shot"):
        gen.generate(station="NEW1", n=1)


def test_site_station_table_has_known_f0():
    from quakesynth.sitegen.corpus import DEFAULT_F0_HZ, site_station_table

    t = site_station_table()
    assert len(t) >= 10 and np.allclose(t["f0_hz"], DEFAULT_F0_HZ)
    assert t["station_code"].is_unique
    with pytest.raises(ValueError, match="Nyquist"):
        site_station_table([1.0, 30.0])


def test_generate_cli_station_option(tiny_models, tmp_path, capsys):
    """`quakesynth generate --model DIR --station ID` reaches a site-specific model via load_model."""
    from quakesynth.cli.main import main
    from quakesynth.generate import load_model

    out = tmp_path / "st.npz"
    assert main(["generate", "--model", str(tiny_models[0]), "--station", "ST02", "-n", "2",
                 "-o", str(out), "--seed", "3", "--no-progress"]) == 0
    data = np.load(out, allow_pickle=False)["data"]
    np.testing.assert_array_equal(data, load_model(tiny_models[0]).generate(station="ST02", n=2, seed=3).data)
    assert main(["generate", "--model", str(tiny_models[0]), "--station", "ST99", "-n", "1",
                 "-o", str(tmp_path / "bad.npz"), "--no-progress"]) == 2
    assert "ST99" in capsys.readouterr().err
