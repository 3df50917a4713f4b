"""``quakesynth models pull highfem`` end to end, without network: a zip in the published layout
(tqdne-0.2.2/weights/edm.ckpt, autoencoder.ckpt), built from the reference checkpoints in
../shared/data/tqdne, is served from a loopback HTTP server, pulled into a temporary
QUAKESYNTH_HOME, converted, and must reproduce reference.npz through load_model("highfem").
Every refused archive leaves the cache exactly as it was (file by file, hashes included).

Tolerance of the reference comparisons: as tests/test_models_tqdne_import.py (float32 rounding),
|ours - ref| <= 5e-6 * max|ref| + 1e-6.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil

import numpy as np
import pytest
import torch

import quakesynth
from quakesynth import hub
from quakesynth.cli.main import main
from test_hub import closed_port_url, serve, snapshot

pytestmark = pytest.mark.shared

EDM = "tqdne-0.2.2/weights/edm.ckpt"
AE = "tqdne-0.2.2/weights/autoencoder.ckpt"
URL_PATH = "/records/15687691/files/tqdne-0.2.2.zip"


def _zip(members: dict[str, bytes]) -> bytes:
    from conftest import zip_bytes

    return zip_bytes(members)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def ckpts():
    from conftest import shared_path

    d = shared_path("tqdne")
    return {"edm": (d / "edm.ckpt").read_bytes(), "autoencoder": (d / "autoencoder.ckpt").read_bytes()}


@pytest.fixture(scope="module")
def published(ckpts):
    """The archive in the published layout (bytes)."""
    return _zip({"tqdne-0.2.2/README.md": b"tqdne 0.2.2\n", EDM: ckpts["edm"], AE: ckpts["autoencoder"]})


@pytest.fixture(scope="module")
def ref():
    from conftest import shared_path

    return dict(np.load(shared_path("tqdne", "reference.npz")))


@pytest.fixture(scope="module")
def pulled_home(tmp_path_factory, published):
    """A QUAKESYNTH_HOME holding highfem pulled once from the loopback server."""
    home = tmp_path_factory.mktemp("pulled") / "qhome"
    with pytest.MonkeyPatch.context() as mp, serve({URL_PATH: published}) as srv:
        mp.setenv(hub.HOME_ENV, str(home))
        hub.pull("highfem", url=srv.url(URL_PATH), progress=False, echo=lambda line: None)
    return home


@pytest.fixture
def home(pulled_home, tmp_path, monkeypatch):
    """A private copy of the pulled cache (tests may damage it); retries without waiting."""
    h = tmp_path / "qhome"
    shutil.copytree(pulled_home, h)
    monkeypatch.setenv(hub.HOME_ENV, str(h))
    monkeypatch.setattr(hub, "RETRY_WAIT_S", 0.0)
    return h


@pytest.fixture
def empty_home(empty_quakesynth_home):
    return empty_quakesynth_home


def _close(ours, theirs):
    from conftest import assert_close_to_reference

    assert_close_to_reference(ours, theirs)


def test_pulled_model_reproduces_the_reference(home, published, ref):
    src = hub.read_source("highfem")
    assert src["archive_sha256"] == _sha(published) and src["archive_bytes"] == len(published)
    assert "trust on first use" in src["sha256_status"] and src["url"].endswith(URL_PATH)
    assert set(src["files"]) == {"config.json", "vae.pt", "edm.pt"}
    gen = quakesynth.load_model("highfem")
    assert gen.name == "highfem" and gen.config["provenance"]["archive_sha256"] == _sha(published)
    with torch.no_grad():
        d = gen.net(torch.from_numpy(ref["sampler_init_noise"]), torch.full((2,), 80.0),
                    torch.from_numpy(ref["sampler_cond"]))
        _close(d, ref["denoiser_first_call"])
        _close(gen.vae.decode(torch.from_numpy(ref["decoder_latent_in"])), ref["decoder_out"])
    # the stored conditioning statistics map the physical scenario to the reference's inputs
    stats = gen.config["conditioning"]
    physical = ref["sampler_cond"] * np.array(stats["std"]) + np.array(stats["mean"])
    np.testing.assert_allclose(gen.normalise(physical).numpy(), ref["sampler_cond"], atol=1e-12)


@pytest.mark.slow
def test_pulled_model_sampler_reproduces_the_reference(home, ref):
    """The generator's own sampler (25 Heun steps, float32 schedule) and decoder."""
    gen = quakesynth.load_model("highfem")
    noise = torch.from_numpy(ref["sampler_init_noise"]) / gen.edm_config.sigma_max
    z = gen.sample_latents(torch.from_numpy(ref["sampler_cond"]), [0, 1], noise=noise)
    _close(z, ref["sampler_latent_out"])
    _close(gen.decode(z), ref["decoded_representation_out"])


def test_pull_through_the_cli_lists_and_generates(empty_home, published, tmp_path, capsys):
    with serve({URL_PATH: published}) as srv:
        assert main(["models", "pull", "highfem", "--url", srv.url(URL_PATH), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "recorded on first use" in err and "NOT checked against a published checksum" in err
    assert _sha(published) in err
    # pulling again is a no-op that says so (no request made)
    assert main(["models", "pull", "highfem", "--url", closed_port_url(), "--no-progress"]) == 0
    assert "already in the cache" in capsys.readouterr().err
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    block = out[out.index("highfem:"):]
    assert f"pulled: {empty_home / 'models' / 'highfem'}" in block and srv.url(URL_PATH) in block
    assert "distance   0 .. 200 km" in block and "magnitude  4 .. 9.1" in block and "vs30       60 .. 1016 m/s" in block
    out_h5 = tmp_path / "o.h5"
    rc = main(["generate", "--model", "highfem", "--magnitude", "6", "--distance", "40", "--vs30", "400",
               "--depth", "10", "--gap", "90", "-n", "2", "-o", str(out_h5), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    from quakesynth.formats import read_records

    rec = read_records(out_h5)
    assert rec.data.shape == (2, 3, 4064) and rec.fs == 100.0 and np.isfinite(rec.data).all()
    assert set(rec.metadata["generator"]) == {"highfem"}


def test_few_step_solver_with_the_pulled_model(home):
    gen = quakesynth.load_model("highfem", solver="dpmpp2m", num_steps=4, gl_iters=2)
    assert gen.sampler.solver == "dpmpp2m" and gen.sampler.num_steps == 4
    rec = gen.generate(magnitude=6.0, distance=50.0, vs30=400.0, depth=10.0, gap=100.0, n=2, seed=1)
    assert rec.data.shape == (2, 3, 4064) and np.isfinite(rec.data).all()
    with pytest.raises(ValueError, match=r"magnitude.*outside"):
        gen.generate(magnitude=3.0, distance=50.0, vs30=400.0, depth=10.0, gap=100.0)


def test_interrupted_pull_leaves_no_file_and_a_retry_succeeds(empty_home, published):
    with serve({URL_PATH: published}) as srv:
        srv.drops = 100  # every response dies halfway
        with pytest.raises(hub.DownloadError, match="interrupted"):
            hub.pull("highfem", url=srv.url(URL_PATH), progress=False, retries=1)
        assert snapshot(empty_home) == {}
        srv.drops = 1  # one drop, then the rest by an HTTP range request
        hub.pull("highfem", url=srv.url(URL_PATH), progress=False, echo=lambda line: None)
        assert srv.log[-1][1] is not None and srv.log[-1][1].startswith("bytes=")
    assert hub.read_source("highfem")["archive_sha256"] == _sha(published)
    assert hub.verify("highfem")["files"]


def _refused(home, archive_bytes, match, tmp_path, capsys, sha256="own"):
    """Pull ``archive_bytes`` through the CLI with --force (and, by default, its own checksum,
    so the step under test is reached); check the one-line refusal (exit 2, no traceback) and
    that the cache is unchanged, file by file. Returns the message."""
    import re

    before = snapshot(home)
    f = tmp_path / "tqdne-0.2.2.zip"
    f.write_bytes(archive_bytes)
    args = ["models", "pull", "highfem", "--archive", str(f), "--no-progress", "--force"]
    if sha256 == "own":
        sha256 = _sha(archive_bytes)
    if sha256:
        args += ["--sha256", sha256]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("quakesynth: error: ") and re.search(match, err), err
    assert snapshot(home) == before
    return err


def test_wrong_checksum_is_refused(home, published, tmp_path, capsys):
    _refused(home, published, "has sha256 .* expected 0{64} \\(given with --sha256\\); refused", tmp_path, capsys, sha256="0" * 64)
    # trust on first use: a different archive than the first-seen one is refused without --sha256
    other = _zip({EDM: b"x", AE: b"y"})
    _refused(home, other, "expected .* \\(first seen when highfem was pulled here; --sha256 [0-9a-f]{64} accepts", tmp_path, capsys, sha256=None)
    quakesynth.load_model("highfem")  # the cached model still loads


def test_corrupted_archive_is_refused(home, published, tmp_path, capsys):
    bad = bytearray(published)
    i = published.index(b"tqdne-0.2.2/weights/edm.ckpt") + 10_000_000  # inside the EDM checkpoint's data
    bad[i:i + 16] = bytes(16)
    _refused(home, bytes(bad), "tqdne-0.2.2.zip is damaged", tmp_path, capsys)
    _refused(home, published[: len(published) * 2 // 3], "not a zip archive", tmp_path, capsys)


def test_archive_without_checkpoints_is_refused(home, ckpts, tmp_path, capsys):
    _refused(home, _zip({"tqdne-0.2.2/README.md": b"x", EDM: ckpts["edm"]}),
             "lacks tqdne-0.2.2/weights/autoencoder.ckpt", tmp_path, capsys)


def test_malicious_pickle_is_refused_without_running(home, ckpts, tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    buf = io.BytesIO()
    torch.save({"state_dict": {}, "hyper_parameters": {"unet_config": {}, "x": Payload()}}, buf)
    msg = _refused(home, _zip({EDM: buf.getvalue(), AE: ckpts["autoencoder"]}),
                   "tqdne-0.2.2/weights/edm.ckpt.*holds pickled globals outside tqdne", tmp_path, capsys)
    assert "mkdir" in msg and not marker.exists()


def test_unsupported_architecture_is_refused(home, ckpts, tmp_path, capsys):
    buf = io.BytesIO()
    torch.save({"state_dict": {}, "hyper_parameters": {"unet_config": {"use_scale_shift_norm": True}}}, buf)
    _refused(home, _zip({EDM: buf.getvalue(), AE: ckpts["autoencoder"]}), "use_scale_shift_norm are not supported",
             tmp_path, capsys)


def test_modified_cache_is_refused_on_load(home):
    f = home / "models" / "highfem" / "edm.pt"
    data = bytearray(f.read_bytes())
    data[-100] ^= 0x01
    f.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="edm.pt was modified since highfem was pulled"):
        quakesynth.load_model("highfem")


def test_local_archive_and_pinned_checksum(empty_home, published, tmp_path, monkeypatch):
    f = tmp_path / "tqdne-0.2.2.zip"
    f.write_bytes(published)
    # a checksum pinned in the registry is enforced on pull and on load
    pinned = hub.PublishedModel(**{**hub.PUBLISHED["highfem"].__dict__, "sha256": _sha(published)})
    monkeypatch.setitem(hub.PUBLISHED, "highfem", pinned)
    lines = []
    hub.pull("highfem", archive=f, progress=False, echo=lines.append)
    assert not any("first use" in line for line in lines)
    assert hub.read_source("highfem")["sha256_status"] == "pinned in quakesynth.hub.PUBLISHED"
    quakesynth.load_model("highfem")
    monkeypatch.setitem(hub.PUBLISHED, "highfem", hub.PublishedModel(**{**pinned.__dict__, "sha256": "1" * 64}))
    with pytest.raises(ValueError, match="not the published 1{64}"):
        quakesynth.load_model("highfem")
    assert main(["models", "remove", "highfem"]) == 0
    assert not hub.is_pulled("highfem")
