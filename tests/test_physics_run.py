"""The physics-guided kinds through ``quakesynth train`` on a tiny synthetic corpus: surrogate,
then the joint refiner with calibrated spatial noise; the deprecated alias
``python -m quakesynth.physics.run``; one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("lightning.pytorch")

from quakesynth.cli.main import main  # noqa: E402


def write_corpus3d(d, n: int = 10):
    """``n`` HEMEW-layout samples in folder ``d``: 4^3 geology, 6 x 6 sensors, 64 steps at 20 Hz;
    the wavefield is a pulse common to all sensors (scaled by the moment tensor) plus
    independent noise."""
    from quakesynth.simulate.hemew import write_sample
    from quakesynth.simulate.wave3d import moment_tensor

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(64) / 20.0
    pulse = np.exp(-((t - 1.5) / 0.4) ** 2) * np.sin(2 * np.pi * 1.2 * t)
    for i in range(n):
        angles = rng.uniform([0, 0, 0], [360, 90, 360])
        m = moment_tensor(*angles)
        amp = np.asarray(m[:3])[:, None, None, None]
        u = amp * pulse + 0.05 * rng.standard_normal((3, 6, 6, 64))
        write_sample(d / f"sample{i}.h5", rng.uniform(1000, 3000, (4, 4, 4)).astype(np.float32),
                     [1000.0, 1000.0, -1000.0], angles, m, u.astype(np.float32), 20.0, fmax=1.5)
    (d / "config.json").write_text(json.dumps({"wave3d": {"fmax": 1.5}}))
    return d


@pytest.fixture(scope="module")
def corpus3d(tmp_path_factory):
    return write_corpus3d(tmp_path_factory.mktemp("c3d") / "c3d")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.slow
def test_surrogate_then_calibrated_joint_refiner(corpus3d, tmp_path, capsys):
    from quakesynth.physics.models import Surrogate, load_refiner

    s = tmp_path / "sur"
    assert main(["train", "surrogate", "--corpus", str(corpus3d), "--preset", "tiny", "-o", str(s), "--quiet"]) == 0
    sur = Surrogate(s / "model")
    assert sur.predict(np.full((1, 4, 4, 4), 2000.0), np.array([[1000.0, 1000.0, -1000.0, 10, 60, 90]])).shape == \
        (1, 3, 6, 6, 64)
    assert (s / "config.yaml").exists()
    # the model says how many steps it was trained (a run stopped by train.max_minutes trains fewer than
    # max_steps, and the benchmarks report these)
    assert json.loads((s / "model" / "config.json").read_text())["provenance"]["steps"] == 4
    # a finished run is not silently overwritten
    assert main(["train", "surrogate", "--corpus", str(corpus3d), "--preset", "tiny", "-o", str(s), "--quiet"]) == 2
    assert "exists" in capsys.readouterr().err
    # a warm restart records its init and the steps behind its weights, along the whole chain, so a
    # model directory copied away from its run folders still says how long it was trained
    w = [tmp_path / "warm1", tmp_path / "warm2"]
    for init, out in zip([s, w[0] / "model"], w):
        assert main(["train", "surrogate", "--corpus", str(corpus3d), "--preset", "tiny", "--init", str(init),
                     "--set", "train.max_steps=2", "-o", str(out), "--quiet"]) == 0
    prov = [json.loads((d / "model" / "config.json").read_text())["provenance"] for d in w]
    assert [p["steps"] for p in prov] == [2, 2] and [p["steps_total"] for p in prov] == [6, 8]
    assert prov[1]["init"] == str(w[0] / "model")
    r = tmp_path / "joint"
    assert main(["train", "refiner", "--corpus", str(corpus3d), "--surrogate", str(s), "--preset", "tiny",
                 "--patch", "2", "--calibrate", "--calibration-wavefields", "1", "-o", str(r), "--quiet"]) == 0
    ref, cfg = load_refiner(r / "model")
    assert cfg["provenance"]["steps"] == 3
    assert ref.cfg.patch == 2 and cfg["surrogate"] == str(s) and cfg["num_steps"] == 8
    cal = cfg["noise_correlation"]
    # one correlation, or one per component where that fitted the dev coherence better
    length, power = np.atleast_1d(cal["length"]), np.atleast_1d(cal["power"])
    assert len(length) in (1, 3) and (length >= 0).all() and ((power > 0) & (power <= 2)).all()
    assert len(cal["target"]) == 3 and len(cal["target"][0]) == 4
    assert min(g["max_abs_error"] for g in cal["grid"]) == pytest.approx(cal["max_abs_error"])
    assert "noise correlation: length" in capsys.readouterr().err


def test_deprecated_alias_forwards_to_quakesynth_train(corpus3d, tmp_path, capsys):
    """``python -m quakesynth.physics.run surrogate ...`` (full preset names, --corpus) still
    trains, says it is deprecated, and gives the run ``quakesynth train`` gives."""
    import yaml

    from quakesynth.modeldir import load_model_dir
    from quakesynth.physics.run import main as alias

    a, b = tmp_path / "a", tmp_path / "b"
    args = ["--corpus", str(corpus3d), "--preset", "fno_tiny", "--set", "train.max_steps=2", "--quiet"]
    assert alias(["surrogate", *args, "-o", str(a)]) == 0
    assert "deprecated" in capsys.readouterr().err
    assert main(["train", "surrogate", *args, "-o", str(b)]) == 0
    assert yaml.safe_load((a / "config.yaml").read_text())["config"] == yaml.safe_load((b / "config.yaml").read_text())["config"]
    sa, sb = load_model_dir(a)[1]["mifno"], load_model_dir(b)[1]["mifno"]
    assert all(np.array_equal(sa[k].numpy(), sb[k].numpy()) for k in sa)


def test_bad_preset_and_missing_corpus_are_one_line_errors(tmp_path, capsys):
    from quakesynth.physics.run import main as alias

    assert main(["train", "surrogate", "--corpus", str(tmp_path), "--preset", "nope", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "tiny" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "surrogate", "-o", str(tmp_path / "o")]) == 2
    assert "--data" in capsys.readouterr().err
    assert alias(["fno", "-o", str(tmp_path / "o")]) == 2
    assert "surrogate, refiner, broadband" in capsys.readouterr().err
    assert alias(["--help"]) == 0
    assert "Example" in capsys.readouterr().out
