"""HighFEMGenerator on a random tiny model: (n, 3, T) m/s^2 records, per-seed determinism,
save/load identity, the stages, the benchmark, and the default-model error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quakesynth.generate.highfem import HighFEMGenerator, load_default, load_generator
from quakesynth.generate.toy import benchmark, count_flops, random_model

# random weights decode to out-of-range spectrograms, which the inversion clips with a warning
pytestmark = pytest.mark.filterwarnings("ignore:representation values up to")

SCEN = dict(magnitude=5.5, distance=40.0, vs30=400.0, depth=10.0, gap=90.0)




@pytest.fixture(scope="module")
def tiny():
    return random_model("tiny")


def test_generates_records_in_m_per_s2_deterministic_per_seed(tiny):
    gen = HighFEMGenerator(*tiny, num_steps=3, gl_iters=8)
    rec = gen.generate(**SCEN, n=3, seed=5)
    assert rec.data.shape == (3, 3, gen.n_samples) == (3, 3, 1008)
    assert rec.quantity == "acceleration" and rec.unit == "m/s^2" and rec.fs == 100.0
    assert np.isfinite(rec.data).all() and np.abs(rec.data).max() > 0
    np.testing.assert_array_equal(rec.data, gen.generate(**SCEN, n=3, seed=5).data)
    assert not np.allclose(rec.data, gen.generate(**SCEN, n=3, seed=6).data)
    alone = gen.generate(**SCEN, n=3, seed=5, batch_size=1)
    np.testing.assert_allclose(alone.data, rec.data, rtol=0, atol=1e-3 * np.abs(rec.data).max())
    assert rec.metadata["source_magnitude"].eq(5.5).all()


def test_network_chunks_and_solver_do_not_change_the_call(tiny):
    """Chunked network evaluation (the CPU default) gives the whole-batch result; the solver is a
    model setting and DPM-Solver++(2M) output is seeded the same way."""
    whole = HighFEMGenerator(*tiny, num_steps=4, gl_iters=4, net_chunk=64, decode_chunk=64)
    chunked = HighFEMGenerator(*tiny, num_steps=4, gl_iters=4, net_chunk=1, decode_chunk=2)
    a, b = whole.generate(**SCEN, n=5, seed=2), chunked.generate(**SCEN, n=5, seed=2)
    np.testing.assert_allclose(b.data, a.data, rtol=0, atol=1e-3 * np.abs(a.data).max())
    fast = HighFEMGenerator(*tiny, num_steps=4, gl_iters=4, solver="dpmpp2m")
    assert fast.sampler.solver == "dpmpp2m" and fast.info()["sampler"]["solver"] == "dpmpp2m"
    np.testing.assert_array_equal(fast.generate(**SCEN, n=2, seed=1).data, fast.generate(**SCEN, n=2, seed=1).data)
    with pytest.raises(ValueError, match="net_chunk"):
        HighFEMGenerator(*tiny, net_chunk=0)


def test_stochastic_sampler_and_guidance_are_seeded(tiny):
    gen = HighFEMGenerator(*tiny, num_steps=3, gl_iters=4, S_churn=10.0, S_max=100.0, guidance=2.0)
    a = gen.generate(**SCEN, n=2, seed=1)
    np.testing.assert_array_equal(a.data, gen.generate(**SCEN, n=2, seed=1).data)
    det = HighFEMGenerator(*tiny, num_steps=3, gl_iters=4)
    assert not np.allclose(a.data, det.generate(**SCEN, n=2, seed=1).data)


def test_stages_invert_the_representation(tiny):
    gen = HighFEMGenerator(*tiny, num_steps=2, gl_iters=64)
    rng = np.random.default_rng(0)
    t = np.arange(gen.spectrogram.n_samples) / gen.fs
    wave = (np.exp(-((t - 4) / 1.5) ** 2) * rng.standard_normal((1, 3, t.size)) * 0.05).astype(np.float32)
    spec = gen.rep.forward(torch.from_numpy(wave))
    back = gen.invert(spec, [0]).numpy()
    # Griffin-Lim recovers the amplitude in m/s^2 (phase is free): same spectral energy
    sc = gen.rep.spectral_convergence(back, spec)
    assert np.all(sc < 0.3)
    assert np.abs(back).max() == pytest.approx(np.abs(wave).max(), rel=0.5)
    assert gen.fit_length(np.ones((1, 3, 500), np.float32)).shape == (1, 3, 1008)
    assert gen.fit_length(np.ones((1, 3, 2000), np.float32)).shape == (1, 3, 1008)


def test_save_load_identity_and_weights_only(tiny, tmp_path):
    from quakesynth.modeldir import save_model_dir

    config, states = tiny
    save_model_dir(tmp_path / "m", config, states)
    a = load_generator(tmp_path / "m", num_steps=2, gl_iters=4)
    b = HighFEMGenerator(config, states, num_steps=2, gl_iters=4)
    np.testing.assert_array_equal(a.generate(**SCEN, n=2, seed=9).data, b.generate(**SCEN, n=2, seed=9).data)
    import quakesynth

    assert isinstance(quakesynth.load_model(tmp_path / "m"), HighFEMGenerator)
    with pytest.raises(ValueError, match="'raw' weights"):
        load_generator(tmp_path / "m", weights="raw")
    with pytest.raises(FileNotFoundError, match="not a quakesynth model directory"):
        load_generator(tmp_path)


def test_conditioning_order_and_ranges_come_from_the_model(tiny):
    config, states = tiny
    config = {**config, "conditioning": {**config["conditioning"], "ranges": {"magnitude": [4.0, 7.0]}}}
    gen = HighFEMGenerator(config, states, num_steps=2, gl_iters=2)
    assert gen.variables == ("distance", "magnitude", "vs30", "depth", "gap")
    with pytest.raises(ValueError, match="magnitude=8 is outside"):
        gen.generate(**{**SCEN, "magnitude": 8.0})
    with pytest.raises(ValueError, match="not a HighFEM"):
        HighFEMGenerator({**config, "model": "vae"}, states)


def test_default_model_missing_is_a_clear_error():
    import quakesynth.generate.highfem as hf

    if (hf.DEFAULT_MODEL_DIR / "config.json").exists():
        assert isinstance(load_default(), HighFEMGenerator)
    else:
        with pytest.raises(FileNotFoundError, match="ships no default"):
            load_default()


def test_benchmark_reports_stages_and_flops():
    r = benchmark("tiny", batch_size=2, num_steps=2, gl_iters=2, warmup=False)
    for k in ("sampling", "decoding", "phase_retrieval", "end_to_end", "gflops"):
        assert r[k] > 0
    assert r["evaluations"] == 3
    assert r["gflop_per_waveform"] == pytest.approx(3 * r["unet_gflop"] + r["decoder_gflop"])
    # a linear layer: 2 * in * out FLOPs per row
    assert count_flops(torch.nn.Linear(10, 20), torch.zeros(3, 10)) == 2 * 3 * 10 * 20


def test_bench_cli(capsys):
    from quakesynth.cli.main import main

    assert main(["bench", "--preset", "tiny", "--steps", "2", "--gl-iters", "2", "-b", "2"]) == 0
    out = capsys.readouterr().out
    assert "end to end" in out and "GFLOP/s" in out


@pytest.mark.shared
@pytest.mark.slow
def test_converted_published_model_reproduces_the_reference_through_the_generator(tqdne_dir, tmp_path):
    """The tqdne 0.2.2 checkpoints, converted and saved as a model directory, generate through
    HighFEMGenerator exactly what the reference sampler and decoder produced for the same noise."""
    from quakesynth.modeldir import save_model_dir
    from quakesynth.models.tqdne_import import convert_tqdne

    config, states = convert_tqdne(tqdne_dir / "edm.ckpt", tqdne_dir / "autoencoder.ckpt")
    save_model_dir(tmp_path / "published", config, states)
    gen = load_generator(tmp_path / "published")
    ref = np.load(tqdne_dir / "reference.npz")
    assert gen.variables == ("distance", "magnitude", "vs30", "depth", "gap") and gen.components == "NEZ"
    noise = torch.from_numpy(ref["sampler_init_noise"] / gen.edm_config.sigma_max)
    z = gen.sample_latents(torch.from_numpy(ref["sampler_cond"]), [0, 1], noise=noise)
    torch.testing.assert_close(z, torch.from_numpy(ref["sampler_latent_out"]), rtol=1e-4, atol=1e-4)
    spec = gen.decode(z)
    torch.testing.assert_close(spec, torch.from_numpy(ref["decoded_representation_out"]), rtol=1e-3, atol=1e-3)
    # physical conditioning is normalised with the reference statistics
    phys = gen.conditioning.denormalise(ref["sampler_cond"])
    np.testing.assert_allclose(gen.conditioning(phys), ref["sampler_cond"], atol=1e-5)
