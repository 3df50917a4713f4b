"""The published HighFEM (tqdne 0.2.2) checkpoints: safe loading, conversion, and the
reference outputs reproduced (../shared/data/tqdne/reference.npz).

Tolerances: float32 networks on CPU agree with the reference to float32 rounding of the
accumulations, |ours - ref| <= 5e-6 * max|ref| + 1e-6 (measured: encoder 1.6e-6 relative,
decoder 7.5e-7, one denoiser call 9e-7, the 25-step sampler 3.3e-7, its decoding 9.8e-7).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from quakesynth.config import from_dict
from quakesynth.diffusion.sampler import edm_sampler, karras_sigmas
from quakesynth.models.edm import EDMPrecond
from quakesynth.models.unet import UNet, UNetConfig
from quakesynth.models.vae import VAE, VAEConfig

pytestmark = pytest.mark.shared




@pytest.fixture(scope="module")
def ref():
    from conftest import shared_path

    return dict(np.load(shared_path("tqdne", "reference.npz")))


@pytest.fixture(scope="module")
def converted():
    from conftest import shared_path
    from quakesynth.models.tqdne_import import convert_tqdne

    d = shared_path("tqdne")
    return convert_tqdne(d / "edm.ckpt", d / "autoencoder.ckpt")


def _nets(configs, sds):
    vae = VAE(from_dict(VAEConfig, configs["vae"])).eval()
    vae.load_state_dict(sds["vae"])
    net = EDMPrecond(UNet(from_dict(UNetConfig, configs["unet"])), configs["edm"]["sigma_data"]).eval()
    net.load_state_dict(sds["edm"])
    return vae, net


def _close(ours, theirs):
    from conftest import assert_close_to_reference

    assert_close_to_reference(ours, theirs)


def test_safe_loader_never_imports_reference_code(tqdne_dir):
    from quakesynth.models.tqdne_import import InertObject, safe_load_checkpoint

    ckpt = safe_load_checkpoint(tqdne_dir / "edm.ckpt")
    assert "tqdne" not in sys.modules and not any(m.startswith("tqdne.") for m in sys.modules)
    obj = ckpt["hyper_parameters"]["edm"]
    assert isinstance(obj, InertObject) and obj._qualname == "tqdne.edm.EDM"
    assert obj.attributes() == {}  # the reference's EDM keeps its class defaults


def test_safe_loader_refuses_foreign_globals(tmp_path):
    from quakesynth.models.tqdne_import import safe_load_checkpoint

    class Payload:
        def __reduce__(self):
            return (print, ("executed",))

    f = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"x": Payload()}}, f)
    with pytest.raises(ValueError, match="outside tqdne"):
        safe_load_checkpoint(f)
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        safe_load_checkpoint(tmp_path / "text.ckpt")


def test_configs_from_hyper_parameters(converted):
    configs, sds = converted
    assert configs["vae"]["model_channels"] == 32 and tuple(configs["vae"]["channel_mult"]) == (1, 2, 4)
    assert configs["vae"]["latent_channels"] == 8 and configs["vae"]["num_res_blocks"] == 1
    assert tuple(configs["unet"]["channel_mult"]) == (1, 2, 2, 2) and configs["unet"]["num_heads"] == 4
    assert tuple(configs["unet"]["attention_resolutions"]) == (8,) and configs["unet"]["cond_features"] == 5
    assert configs["edm"] == {"sigma_min": 0.002, "sigma_max": 80.0, "rho": 7.0, "sigma_data": 0.5,
                              "P_mean": -1.2, "P_std": 1.2}
    assert configs["sampler"]["num_steps"] == 25 and configs["sampler"]["S_churn"] == 0.0
    assert configs["provenance"]["weights"] == "state_dict"
    assert configs["provenance"]["reference_stochastic_sampler"]["S_churn"] == 40.0
    assert configs["conditioning"]["variables"] == ["distance", "magnitude", "vs30", "depth", "gap"]
    assert set(sds) == {"vae", "edm"}


def test_encoder_and_decoder_reproduce_reference(converted, ref):
    vae, _ = _nets(*converted)
    with torch.no_grad():
        mean, log_std = vae.encode(torch.from_numpy(ref["representation_in"])[None])
        _close(mean, ref["encoder_mean"])
        _close(log_std, ref["encoder_log_std"])
        _close(vae.decode(torch.from_numpy(ref["decoder_latent_in"])), ref["decoder_out"])


def test_representation_and_encoder_from_the_waveform(converted, ref):
    from quakesynth.repr.spectrogram import LogSpectrogram

    vae, _ = _nets(*converted)
    spec = LogSpectrogram().forward(torch.from_numpy(ref["waveform_in"])[None])
    with torch.no_grad():
        _close(vae.encode(spec)[0], ref["encoder_mean"])


def test_denoiser_call_reproduces_reference(converted, ref):
    _, net = _nets(*converted)
    sigmas = karras_sigmas(25, 0.002, 80.0, 7.0, dtype=torch.float32)
    assert torch.equal(sigmas, torch.from_numpy(ref["sampler_sigmas"]))  # bit for bit
    with torch.no_grad():
        d = net(torch.from_numpy(ref["sampler_init_noise"]), sigmas[0].repeat(2), torch.from_numpy(ref["sampler_cond"]))
    _close(d, ref["denoiser_first_call"])


@pytest.mark.slow
def test_full_sampler_and_decoding_reproduce_reference(converted, ref):
    """25 deterministic Heun steps (49 evaluations), state in float64, float32 schedule."""
    vae, net = _nets(*converted)
    sigmas = karras_sigmas(25, dtype=torch.float32)
    noise = torch.from_numpy(ref["sampler_init_noise"])  # already multiplied by sigma_max
    calls = []

    def counted(x, s, c):
        calls.append(1)
        return net(x, s, c)

    z = edm_sampler(counted, noise / sigmas[0], torch.from_numpy(ref["sampler_cond"]), sigmas=sigmas)
    assert len(calls) == 49 and z.dtype == torch.float64
    _close(z, ref["sampler_latent_out"])
    with torch.no_grad():
        _close(vae.decode(z.float()), ref["decoded_representation_out"])


def test_ema_weights_differ_and_load(tqdne_dir):
    from quakesynth.models.tqdne_import import convert_tqdne

    raw_cfg, raw = convert_tqdne(tqdne_dir / "edm.ckpt", tqdne_dir / "autoencoder.ckpt", weights="raw")
    ema_cfg, ema = convert_tqdne(tqdne_dir / "edm.ckpt", tqdne_dir / "autoencoder.ckpt", weights="ema")
    assert ema_cfg["provenance"]["weights"] == "ema_state"
    k = "backbone.time_mlp.0.weight"
    assert not torch.equal(raw["edm"][k], ema["edm"][k])
    assert torch.equal(raw["edm"]["backbone.time_embed.W"], ema["edm"]["backbone.time_embed.W"])
    _nets(ema_cfg, ema)
    with pytest.raises(ValueError, match="weights"):
        convert_tqdne(tqdne_dir / "edm.ckpt", tqdne_dir / "autoencoder.ckpt", weights="best")
    with pytest.raises(ValueError, match="swap"):
        convert_tqdne(tqdne_dir / "autoencoder.ckpt", tqdne_dir / "edm.ckpt")


def test_cli_import_end_to_end(tqdne_dir, ref, tmp_path, capsys):
    from quakesynth.cli.main import main
    from quakesynth.modeldir import load_model_dir

    out = tmp_path / "published"
    rc = main(["import-tqdne", str(tqdne_dir / "edm.ckpt"), str(tqdne_dir / "autoencoder.ckpt"), "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert "wrote" in capsys.readouterr().out
    config, sds = load_model_dir(out)
    assert config["model"] == "highfem" and config["name"] == "published"
    assert config["provenance"]["weights"] == "state_dict"
    vae, net = _nets(config, sds)
    with torch.no_grad():
        d = net(torch.from_numpy(ref["sampler_init_noise"]), torch.full((2,), 80.0), torch.from_numpy(ref["sampler_cond"]))
        _close(d, ref["denoiser_first_call"])
        _close(vae.decode(torch.from_numpy(ref["decoder_latent_in"])), ref["decoder_out"])
    # existing output: one-line error, exit 2; --overwrite replaces it
    assert main(["import-tqdne", str(tqdne_dir / "edm.ckpt"), str(tqdne_dir / "autoencoder.ckpt"), "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["import-tqdne", str(tqdne_dir / "edm.ckpt"), str(tqdne_dir / "autoencoder.ckpt"), "-o", str(out),
                 "--weights", "ema", "--overwrite"]) == 0
    assert load_model_dir(out, names=[])[0]["provenance"]["weights"] == "ema_state"
    # swapped arguments: a clear error
    assert main(["import-tqdne", str(tqdne_dir / "autoencoder.ckpt"), str(tqdne_dir / "edm.ckpt"), "-o",
                 str(tmp_path / "x")]) == 2
    assert "swap" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_help_has_example(capsys):
    from conftest import assert_help_has_example
    from quakesynth.cli.main import main

    assert main(["import-tqdne", "--help"]) == 0
    assert_help_has_example(capsys.readouterr().out, "import-tqdne")


@pytest.mark.filterwarnings("ignore:representation values")
def test_imported_model_generates_through_load_model(tqdne_dir, tmp_path):
    """Integration with the generator layer: the converted directory is a usable model."""
    import quakesynth
    from quakesynth.cli.main import main

    out = tmp_path / "m"
    assert main(["import-tqdne", str(tqdne_dir / "edm.ckpt"), str(tqdne_dir / "autoencoder.ckpt"), "-o", str(out)]) == 0
    gen = quakesynth.load_model(out, num_steps=2, gl_iters=2)
    rec = gen.generate(magnitude=6.0, distance=50.0, vs30=400.0, depth=10.0, gap=100.0, n=2, seed=1)
    assert rec.data.shape == (2, 3, 4064) and rec.fs == 100.0 and rec.components == "NEZ"
    assert np.isfinite(rec.data).all()
