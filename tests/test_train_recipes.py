"""The recipe table through ``quakesynth train KIND`` for the site-specific and physics-guided
kinds (vae, edm and classifier: tests/test_train_cli.py): every kind trains its tiny preset and
exports a model directory whose networks load; the loss falls on a fixed batch; an interrupted
run resumes exactly (two-stage TimesNet-Gen included, and a run folder of the former
``python -m quakesynth.physics.run`` layout); one help example per kind; one-line errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("lightning.pytorch")

from quakesynth.cli.main import main  # noqa: E402
from quakesynth.config import from_dict  # noqa: E402
from quakesynth.modeldir import load_model_dir  # noqa: E402
from quakesynth.train.config import KINDS, resolve_config, train_sections  # noqa: E402
from quakesynth.train.recipes import RECIPES, Inputs  # noqa: E402

QUIET = ["--quiet", "--threads", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Tiny inputs: a station store (3 stations x 8 records of 128 samples), a simulate-3d corpus
    (10 samples) and a broadband store (16 records of 4096 samples)."""
    from quakesynth.data.store import DatasetWriter
    from test_generate_station import _synthetic_records
    from test_physics_broadband import synthetic_corpus
    from test_physics_run import write_corpus3d

    root = tmp_path_factory.mktemp("recipes")
    with DatasetWriter(root / "site", fs=50.0, components="ZNE", split_fractions=(0.75, 0.125, 0.125)) as w:
        w.add(_synthetic_records())
    return {"site": root / "site", "corpus3d": write_corpus3d(root / "c3d"),
            "broadband": synthetic_corpus(root / "bb")}


def _args(kind: str, data: dict, steps: int, surrogate=None) -> list[str]:
    src = {"timesnet": "site", "site-cvae": "site", "surrogate": "corpus3d", "refiner": "corpus3d"}.get(kind, kind)
    out = ["train", kind, "--data", str(data[src]), "--preset", "tiny", *QUIET]
    out += [f"--set={s}.max_steps={steps}" for s in train_sections(kind)]
    return out + (["--surrogate", str(surrogate)] if surrogate else [])


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """Each of the five kinds trained for two steps (per stage) into its run folder."""
    root = tmp_path_factory.mktemp("runs")
    n = torch.get_num_threads()
    try:
        for kind in ("surrogate", "refiner", "broadband", "timesnet", "site-cvae"):
            sur = root / "surrogate" if kind == "refiner" else None
            assert main([*_args(kind, data, 2, sur), "-o", str(root / kind)]) == 0, kind
    finally:
        torch.set_num_threads(n)
    return root


def _network(config: dict, states: dict):
    """The trained network of a model directory, built from its config; strict weight load."""
    kind = config["model"]
    if kind == "mifno":
        from quakesynth.models.fno import MIFNO, MIFNOConfig

        net, key = MIFNO(from_dict(MIFNOConfig, config["mifno"])), "mifno"
    elif kind == "refiner":
        from quakesynth.physics.models import Refiner, RefinerConfig

        net, key = Refiner(from_dict(RefinerConfig, config["refiner"]), config["sigma_data"]), "refiner"
    elif kind == "timesnet_gen":
        from quakesynth.models.timesnet import TimesNetAE, TimesNetConfig

        net, key = TimesNetAE(from_dict(TimesNetConfig, config["timesnet"])), "timesnet"
    else:
        from quakesynth.models.cvae import CVAE, CVAEConfig

        net, key = CVAE(from_dict(CVAEConfig, config["cvae"])), "cvae"
    net.load_state_dict(states[key])
    return net


@pytest.mark.parametrize("kind, model", [("surrogate", "mifno"), ("refiner", "refiner"), ("broadband", "refiner"),
                                         ("timesnet", "timesnet_gen"), ("site-cvae", "site_cvae")])
def test_every_kind_trains_and_exports_a_model_that_loads(runs, kind, model):
    import pandas as pd

    run = runs / kind
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["kind"] == kind and saved["preset"] == "tiny"
    config, states = load_model_dir(run)
    assert config["model"] == model
    net = _network(config, states)
    assert sum(p.numel() for p in net.parameters()) > 0
    for stage in ("phase0", "phase1") if kind == "timesnet" else ("",):
        assert (run / stage / "checkpoints" / "last.ckpt").exists()
        assert pd.read_csv(run / stage / "logs" / "metrics.csv")["train/loss"].notna().sum() == 2
    if kind == "broadband":  # the layout BroadbandRefiner reads
        assert {"broadband", "conditioning", "components", "unit"} <= set(config)
        assert config["refiner"]["n_extra"] == len(config["broadband"]["variables"]) + 1
    if kind == "timesnet":  # phase 1 starts from phase 0's EMA weights and moves away from them
        assert any(not torch.equal(states["timesnet"][k], states["timesnet_pretrained"][k]) for k in states["timesnet"])


@pytest.mark.parametrize("kind, lr", [("broadband", 2e-3), ("timesnet", 3e-3), ("surrogate", 1e-2)])
def test_loss_falls_on_a_fixed_batch(data, kind, lr, one_torch_thread):
    """The recipe's module on 8 records of its own training arrays, the same random draws at
    every step (a fixed objective): 25 Adam steps lower the loss (physics and site-specific
    families; HighFEM: tests/test_train_cli.py)."""
    src = {"timesnet": "site", "surrogate": "corpus3d"}.get(kind, kind)
    cfg = resolve_config(kind, "tiny")
    torch.manual_seed(0)
    plan = RECIPES[kind].prepare(cfg, Inputs(data=data[src], progress=False))
    stage = plan.stages[0]
    module = stage.build({})
    batch = {k: torch.as_tensor(np.asarray(v[:8])) for k, v in stage.arrays.items()}
    opt = torch.optim.Adam(module.ema_target().parameters(), lr=lr)
    losses = []
    for _ in range(25):
        torch.manual_seed(1)
        loss, _ = module.compute_loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def _cut_back(run, stage: str, step: int) -> None:
    """Make ``run`` look interrupted after step ``step`` of ``stage``: that checkpoint becomes
    last.ckpt, later stages and the model directory are gone."""
    d = run / stage if stage else run
    shutil.copy(d / "checkpoints" / f"step-{step:08d}.ckpt", d / "checkpoints" / "last.ckpt")
    shutil.rmtree(run / "model")


@pytest.mark.parametrize("kind, legacy", [("broadband", True), ("timesnet", False)])
def test_interrupted_run_resumes_exactly(data, tmp_path, kind, legacy, one_torch_thread):
    """4 steps straight vs. interrupted at step 2 (of the last stage) and resumed by
    ``quakesynth train KIND --resume -o RUN`` alone: identical weights and loss curve. With
    ``legacy`` the run folder's config.yaml is rewritten in the former physics.run layout
    (sections at the top level, no ``config``) first."""
    import pandas as pd

    sections = train_sections(kind)
    args = _args(kind, data, 4) + [f"--set={s}.{k}" for s in sections for k in ("checkpoint_every=2", "keep_checkpoints=3")]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*args, "-o", str(a)]) == 0
    shutil.copytree(a, b)
    _cut_back(b, "phase1" if kind == "timesnet" else "", 2)
    if legacy:
        saved = yaml.safe_load((b / "config.yaml").read_text())
        cfg = saved["config"]
        del cfg["refiner"]["n_extra"]  # the former layout held the preset's sections, not derived values
        (b / "config.yaml").write_text(yaml.safe_dump({"kind": kind, **cfg, "data": saved["data"], "limit": None}))
    assert main(["train", kind, "--resume", "-o", str(b), *QUIET]) == 0
    sa, sb = load_model_dir(a)[1], load_model_dir(b)[1]
    assert sa.keys() == sb.keys()
    for name in sa:
        assert all(torch.equal(sa[name][k], sb[name][k]) for k in sa[name]), name
    last = a / "phase1" if kind == "timesnet" else a
    curve_a = pd.read_csv(last / "logs" / "metrics.csv")["train/loss"].dropna().to_numpy()
    curve_b = pd.read_csv((b / "phase1" if kind == "timesnet" else b) / "logs" / "metrics.csv")["train/loss"].dropna().to_numpy()
    np.testing.assert_array_equal(curve_a, curve_b)


def test_help_has_an_example_per_kind(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example" in out
    for kind in KINDS:
        assert f"quakesynth train {kind} " in out, kind


def test_bad_input_is_a_one_line_error(data, tmp_path, capsys):
    cases = [
        (["train", "refiner", "--corpus", str(data["corpus3d"]), "-o", str(tmp_path / "r")], "--surrogate"),
        (["train", "timesnet", "-o", str(tmp_path / "t")], "--data"),
        (["train", "site-cvae", "--data", str(data["site"]), "--patch", "2", "-o", str(tmp_path / "c")], "refiner only"),
        (["train", "broadband", "--data", str(data["broadband"]), "--vae", str(data["site"]), "-o", str(tmp_path / "b")],
         "--vae does not apply"),
        (["train", "timesnet", "--data", str(data["site"]), "--init", str(data["site"]), "-o", str(tmp_path / "t")],
         "--init is not available"),
        (["train", "broadband", "--data", str(data["broadband"]), "--preset", "huge", "-o", str(tmp_path / "b")],
         "presets: ['cpu', 'small', 'tiny']"),
        (["train", "surrogate", "--corpus", str(data["corpus3d"]), "--limit", "2", "-o", str(tmp_path / "s")],
         "at least 3"),
        (["train", "site-cvae", "--resume", "-o", str(tmp_path / "none")], "cannot resume"),
        (["train", "timesnet", "--data", str(data["site"]), "--set", "phase2.lr=1", "-o", str(tmp_path / "t")],
         "phase2"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, (argv, err)
