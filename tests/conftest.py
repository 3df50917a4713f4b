"""Shared fixtures: the ../shared data (skipped with a reason where absent) and tiny records."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QUAKESYNTH_SHARED", REPO.parent / "shared")) / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, skipping the calling test where it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"needs {p} (the project's ../shared/data beside the checkout), which is absent here")
    return p


@pytest.fixture
def shared_data() -> Path:
    return shared_path()


@pytest.fixture
def knet_dir() -> Path:
    return shared_path("real", "knet-kiknet")


@pytest.fixture
def vs30_table() -> Path:
    return shared_path("real", "stations_vs30_japan.csv")


@pytest.fixture
def tqdne_dir() -> Path:
    return shared_path("tqdne")


@pytest.fixture
def obspy_stream():
    """ObsPy's bundled real three-component example (always available)."""
    import obspy

    return obspy.read()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A zip archive (deflate) in memory holding ``members`` (name -> bytes)."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def assert_close_to_reference(ours, theirs) -> None:
    """Equal to a reference output to float rounding: max |diff| <= 5e-6 x max |reference| + 1e-6."""
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape
    err = np.abs(ours - theirs).max()
    assert err <= 5e-6 * np.abs(theirs).max() + 1e-6, f"max |diff| {err:.3g}"


def params_without_gradient(module) -> list[str]:
    """Names of the parameters of a torch ``module`` whose gradient (after a backward pass) is
    missing, not finite or zero everywhere: an empty list when every parameter learns."""
    import torch

    return [name for name, p in module.named_parameters()
            if p.grad is None or not torch.isfinite(p.grad).all() or not p.grad.abs().sum() > 0]


def assert_help_has_example(text: str, command: str = "") -> None:
    """A command's ``--help`` text shows an example: an "Example" heading followed by a line
    that runs ``quakesynth <command> ...`` (at least one argument beyond the command)."""
    assert "Example" in text, f"no 'Example' in the help of 'quakesynth {command}'"
    after = text[text.index("Example"):]
    lines = [ln.strip() for ln in after.splitlines()]
    prefix = f"quakesynth {command} ".replace("  ", " ") if command else "quakesynth "
    runnable = [ln for ln in lines if ln.startswith(prefix) and len(ln.split()) > len(prefix.split())]
    assert runnable, f"the help of 'quakesynth {command}' has no example line starting {prefix!r}"


@pytest.fixture
def empty_quakesynth_home(tmp_path, monkeypatch) -> Path:
    """An empty QUAKESYNTH_HOME model cache; interrupted downloads are retried without waiting."""
    from quakesynth import hub

    home = tmp_path / "quakesynth-home"
    home.mkdir()
    monkeypatch.setenv(hub.HOME_ENV, str(home))
    monkeypatch.setattr(hub, "RETRY_WAIT_S", 0.0)
    return home


@pytest.fixture
def one_torch_thread():
    """Torch on one intra-op thread for the test (restored afterwards)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def pytest_runtest_setup(item):
    """Tiny tensors run fastest on one thread (and 2 threads thrash on a shared 2-core CI
    machine): every test that has torch loaded runs with one intra-op thread."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def resonant_records(n: int, f0: float, fs: float, T: int = 1024, seed: int = 0):
    """(n, 3, T) white noise whose horizontals (components 1, 2) pass through a soil layer's transfer
    function with fundamental ``f0`` Hz (damping 3 %, impedance 0.2); the vertical stays white, so the
    HVSR peaks at ``f0``."""
    from quakesynth.simulate.site import layer_transfer_function

    x = np.random.default_rng(seed).standard_normal((n, 3, T))
    H = layer_transfer_function(np.fft.rfftfreq(T, 1 / fs), np.array([f0]), np.array([0.2]), np.array([0.03]))[0]
    X = np.fft.rfft(x, axis=-1)
    X[:, 1:] *= H
    return np.fft.irfft(X, n=T, axis=-1)
