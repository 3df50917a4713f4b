"""The generation package (issue 15): metadata comes back from ``_generate`` with the waveforms
(nothing replays a random stream), both return forms of ``_generate`` work, the old import
paths keep working, and inference never imports Lightning."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import quakesynth.generate.stochastic as gs
from quakesynth.generate import Generator

SCEN = dict(magnitude=5.5, distance=40.0, vs30=400.0, depth=10.0, gap=90.0)


def test_back_azimuth_metadata_is_the_one_drawn_and_used(monkeypatch):
    """The metadata's back azimuth is whatever the simulation used, even when the draw changes:
    shift every drawn back azimuth by 90 degrees and the metadata follows (a replay of the
    random stream, as before, would still report the unshifted angle)."""
    drawn = []
    real = gs.draw_record_parameters

    def shifted(*args, **kw):
        p = real(*args, **kw)
        p["back_azimuth"] = (p["back_azimuth"] + 90.0) % 360.0
        drawn.extend(p["back_azimuth"].tolist())
        return p

    monkeypatch.setattr(gs, "draw_record_parameters", shifted)
    rec = gs.StochasticGenerator().generate(**SCEN, n=5, seed=4, batch_size=2)
    np.testing.assert_array_equal(rec.metadata["path_back_azimuth_deg"].to_numpy(), np.array(drawn))


def test_rotation_uses_the_metadata_back_azimuth():
    """Rotating the ZNE output back to R, T with the metadata's back azimuth gives the ZRT output
    of the same seeds (ObsPy's rotate_ne_rt convention)."""
    from quakesynth.data.preprocess import rotate_ne_rt

    zne = gs.StochasticGenerator().generate(**SCEN, n=3, seed=11)
    zrt = gs.StochasticGenerator(overrides=["waveform.components=ZRT"]).generate(**SCEN, n=3, seed=11)
    r, t = rotate_ne_rt(zne.component("N"), zne.component("E"), zne.metadata["path_back_azimuth_deg"].to_numpy())
    np.testing.assert_allclose(r, zrt.component("R"), atol=1e-6 * np.abs(r).max())
    np.testing.assert_allclose(t, zrt.component("T"), atol=1e-6 * np.abs(t).max())
    assert "path_back_azimuth_deg" not in zrt.metadata or zrt.metadata["path_back_azimuth_deg"].isna().all()


class _Both(Generator):
    """Returns (waveforms, extra) or the waveforms alone, as ``form`` says."""

    name, variables, fs, components, n_samples = "both", ("magnitude",), 10.0, "ZNE", 8

    def __init__(self, form: str) -> None:
        self.form = form

    def _generate(self, cond, seeds, device="cpu"):
        x = np.ones((len(seeds), 3, 8), np.float32) * cond[:, :1, None]
        if self.form == "array":
            return x
        extra = {"trace_p_arrival_sample": np.asarray(seeds % 7, float), "station_vs30_source": "drawn"}
        if self.form == "frame":
            import pandas as pd

            extra = pd.DataFrame(extra)
        return x, extra


@pytest.mark.parametrize("form", ["dict", "frame", "array"])
def test_both_return_forms(form):
    rec = _Both(form).generate(magnitude=3.0, n=5, seed=1, batch_size=2)
    assert rec.data.shape == (5, 3, 8) and np.all(rec.data == 3.0)
    if form == "array":
        assert rec.metadata["trace_start_time"].iloc[0] == rec.metadata["source_origin_time"].iloc[0]
    else:
        seeds = rec.metadata["waveform_seed"].to_numpy()
        np.testing.assert_array_equal(rec.metadata["trace_p_arrival_sample"].to_numpy(), seeds % 7)
        assert (rec.metadata["station_vs30_source"] == "drawn").all()


def test_extra_metadata_of_the_wrong_length_is_an_error():
    class Bad(_Both):
        def _generate(self, cond, seeds, device="cpu"):
            return np.zeros((len(seeds), 3, 8), np.float32), {"trace_p_arrival_sample": [1.0]}

    with pytest.raises(RuntimeError, match="1 values of metadata 'trace_p_arrival_sample' for 3 records"):
        Bad("dict").generate(magnitude=3.0, n=3)


def test_old_import_paths_keep_working():
    import quakesynth.generate as g
    import quakesynth.parallel as p

    for name in ("load_model", "register_model", "available_models", "Generator", "generate_to_file", "to_quantity",
                 "ConditioningError", "validate_scenarios", "synthetic_codes", "DEFAULT_ORIGIN_TIME", "VARIABLES",
                 "MODEL_LOADERS", "model_kind", "waveform_seed", "PHYSICAL_RANGES", "parse_origin_time"):
        assert hasattr(g, name), name
    from quakesynth.generate.parallel import generate_parallel, set_threads

    assert p.generate_parallel is generate_parallel and p.set_threads is set_threads
    assert g.MODEL_LOADERS["refiner"] == "quakesynth.generate.refiner:load_generator"


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-1500:]
    return set(out.stdout.split())


def _lightning(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in ("lightning", "pytorch_lightning"))


@pytest.mark.parametrize("command", ["generate", "refine"])
def test_inference_help_imports_no_lightning(command):
    mods = _modules_after(f"import sys\nsys.argv = ['quakesynth', '{command}', '--help']\n"
                          "from quakesynth.cli.main import main\ntry:\n    main()\nexcept SystemExit:\n    pass")
    assert f"quakesynth.cli.{command}" in mods  # the command module was really loaded
    assert _lightning(mods) == []


def test_refining_imports_no_lightning():
    """What ``quakesynth refine`` runs: the broadband refiner and the surrogate refiner's path."""
    code = "import quakesynth.cli.refine, quakesynth.generate.refiner, quakesynth.physics.refine"
    from quakesynth.generate.highfem import DEFAULT_MODEL_DIR

    shipped = (DEFAULT_MODEL_DIR.parent / "broadband" / "config.json").exists()
    if shipped:  # load the shipped broadband refiner too (networks, weights)
        code += "\nquakesynth.generate.refiner.BroadbandRefiner('broadband')"
    mods = _modules_after(code)
    assert _lightning(mods) == []
    assert not shipped or "quakesynth.models.refiner" in mods


def test_loading_the_default_model_imports_no_lightning():
    from quakesynth.generate.highfem import DEFAULT_MODEL_DIR

    if not (DEFAULT_MODEL_DIR / "config.json").exists():
        pytest.skip("this build ships no default model")
    mods = _modules_after("import quakesynth\nquakesynth.load_model('default')")
    assert "quakesynth.generate.highfem" in mods and "torch" in mods
    assert _lightning(mods) == []


def test_generate_cli_refuses_a_model_that_refines_records(tmp_path, monkeypatch, capsys):
    """``load_model`` of a refiner folder gives a paired model, not a Generator: ``quakesynth
    generate`` says so in one line (exit 2) instead of failing inside the generation."""
    from quakesynth.cli.main import main
    from quakesynth.generate import _REGISTRY, register_model

    class Refinerish:
        name = "refiner:x"

        def reproduce(self, records, seeds):
            return records

    monkeypatch.setitem(_REGISTRY, "refinerish", (Refinerish, ""))
    register_model("refinerish", Refinerish)
    code = main(["generate", "--model", "refinerish", "--magnitude", "5", "--distance", "30", "--vs30", "400",
                 "--depth", "10", "--gap", "90", "-o", str(tmp_path / "o.h5")])
    err = capsys.readouterr().err
    assert code == 2 and "refines records" in err and "quakesynth refine" in err
    assert not (tmp_path / "o.h5").exists()


def test_models_holds_networks_and_pull_stays_public():
    """Importing a network imports neither the hub nor the generators; ``quakesynth.models.pull``
    (documented in the model card) is still the hub's pull."""
    mods = _modules_after("import quakesynth.models.unet, quakesynth.models.vae")
    assert not {m for m in mods if m == "quakesynth.hub" or m.startswith("quakesynth.generate")}
    import quakesynth.hub
    import quakesynth.models

    assert quakesynth.models.pull is quakesynth.hub.pull
    with pytest.raises(AttributeError, match="no attribute 'HighFEMGenerator'"):
        quakesynth.models.HighFEMGenerator  # noqa: B018 -- moved to quakesynth.generate.highfem
