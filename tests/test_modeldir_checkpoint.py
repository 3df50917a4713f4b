"""Model directories: save/load identity, weights-only loading, validation; HighFEM presets."""

from __future__ import annotations

import json

import pytest
import torch

from quakesynth.config import from_dict, highfem_preset, to_dict
from quakesynth.modeldir import load_model_dir, save_model_dir
from quakesynth.models.edm import EDMConfig, EDMPrecond
from quakesynth.models.unet import UNet, UNetConfig
from quakesynth.models.vae import VAE, VAEConfig


def _tiny():
    p = highfem_preset("tiny")
    vae = VAE(from_dict(VAEConfig, p["vae"]))
    net = EDMPrecond(UNet(from_dict(UNetConfig, p["unet"])), from_dict(EDMConfig, p["edm"]).sigma_data)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in (vae, net):
            for q in m.parameters():
                q.copy_(torch.randn(q.shape, generator=g) * 0.1)
    return p, vae.eval(), net.eval()


def test_save_load_gives_identical_outputs(tmp_path):
    p, vae, net = _tiny()
    configs = {"model": "highfem", **p, "waveform": {"fs": 100.0, "components": "ZNE", "n_samples": 1008}}
    out = save_model_dir(tmp_path / "m", configs, {"vae": vae.state_dict(), "edm": net.state_dict()})
    assert sorted(f.name for f in out.iterdir()) == ["config.json", "edm.pt", "vae.pt"]
    cfg, sds = load_model_dir(out)
    assert cfg["format"] == "quakesynth-model" and cfg["quakesynth_version"]
    assert cfg["weights"] == {"vae": "vae.pt", "edm": "edm.pt"}
    assert cfg["sampler"]["S_max"] == float("inf")  # JSON Infinity round trip
    vae2 = VAE(from_dict(VAEConfig, cfg["vae"])).eval()
    vae2.load_state_dict(sds["vae"])
    net2 = EDMPrecond(UNet(from_dict(UNetConfig, cfg["unet"])), cfg["edm"]["sigma_data"]).eval()
    net2.load_state_dict(sds["edm"])
    x = torch.randn(2, 3, 32, 64)
    z = torch.randn(2, 4, 16, 32)
    c = torch.randn(2, 5)
    with torch.no_grad():
        assert torch.equal(vae.encode(x)[0], vae2.encode(x)[0])
        assert torch.equal(vae.decode(z), vae2.decode(z))
        assert torch.equal(net(z, torch.tensor([0.3, 7.0]), c), net2(z, torch.tensor([0.3, 7.0]), c))
    assert to_dict(from_dict(UNetConfig, cfg["unet"])) == p["unet"]
    # subset of weights
    _, only = load_model_dir(out, names=["vae"])
    assert list(only) == ["vae"]


def test_atomic_and_no_overwrite(tmp_path):
    p, vae, _ = _tiny()
    target = tmp_path / "m"
    save_model_dir(target, {"model": "vae"}, {"vae": vae.state_dict()})
    with pytest.raises(FileExistsError):
        save_model_dir(target, {"model": "vae"}, {"vae": vae.state_dict()})
    save_model_dir(target, {"model": "vae", "note": "second"}, {"vae": vae.state_dict()}, overwrite=True)
    assert json.loads((target / "config.json").read_text())["note"] == "second"
    # a failing save leaves nothing behind
    with pytest.raises(ValueError, match="non-tensor"):
        save_model_dir(tmp_path / "bad", {"model": "vae"}, {"vae": {"w": "not a tensor"}})
    assert not (tmp_path / "bad").exists()
    assert [f.name for f in tmp_path.iterdir()] == ["m"]


def test_weights_only_loading_refuses_pickled_objects(tmp_path):
    p, vae, _ = _tiny()
    d = save_model_dir(tmp_path / "m", {"model": "vae"}, {"vae": vae.state_dict()})
    torch.save({"w": torch.zeros(1), "obj": _Evil()}, d / "vae.pt")
    with pytest.raises(Exception, match="(?i)weights.only|unsupported global"):
        load_model_dir(d)


class _Evil:
    def __reduce__(self):
        return (print, ("executed",))


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_model_dir(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_model_dir(tmp_path / "empty")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"format": "something"}')
    with pytest.raises(ValueError, match="format"):
        load_model_dir(tmp_path / "other")
    p, vae, _ = _tiny()
    d = save_model_dir(tmp_path / "m", {"model": "vae"}, {"vae": vae.state_dict()})
    with pytest.raises(ValueError, match="no weights"):
        load_model_dir(d, names=["edm"])
    (d / "vae.pt").unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        load_model_dir(d)
    with pytest.raises(ValueError, match="file stem"):
        save_model_dir(tmp_path / "x", {}, {"../evil": {}})


def test_highfem_presets_resolve_and_are_consistent():
    for name in ("paper", "small", "tiny"):
        p = highfem_preset(name)
        assert set(p) == {"spectrogram", "vae", "unet", "edm", "sampler"}
        vae = from_dict(VAEConfig, p["vae"])
        unet = from_dict(UNetConfig, p["unet"])
        from quakesynth.repr.spectrogram import SpectrogramConfig

        spec = from_dict(SpectrogramConfig, p["spectrogram"])
        latent = vae.latent_shape((vae.in_channels, *spec.shape))
        assert latent[0] == unet.in_channels == unet.out_channels
        assert all(s % unet.downsampling == 0 for s in latent[1:])
    assert highfem_preset("paper")["unet"] == to_dict(UNetConfig())
    assert from_dict(VAEConfig, highfem_preset("paper")["vae"]).latent_shape((3, 128, 128)) == (8, 32, 32)
    with pytest.raises(ValueError, match="not found"):
        highfem_preset("huge")
