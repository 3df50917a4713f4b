"""quakesynth.modeldir: run-folder resolution decided once, kind reading, kind checks, and that
every loader goes through it (old model folders keep loading)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from quakesynth.modeldir import (
    FORMAT,
    load_model_dir,
    read_config,
    read_kind,
    resolve_model_dir,
    save_model_dir,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "quakesynth"


def _save(path, kind="vae"):
    return save_model_dir(path, {"model": kind, "x": 1.5}, {"w": {"a": torch.arange(3.0)}})


def test_model_dir_and_run_folder_resolve_to_the_same_directory(tmp_path):
    model = _save(tmp_path / "run" / "model")
    assert resolve_model_dir(model) == model
    assert resolve_model_dir(tmp_path / "run") == model
    # a run folder's own config.json (not a model config) does not hide its finished model
    (tmp_path / "run" / "config.json").write_text(json.dumps({"train": {"steps": 3}}))
    assert resolve_model_dir(tmp_path / "run") == model
    config, states = load_model_dir(tmp_path / "run")
    assert config["model"] == "vae" and torch.equal(states["w"]["a"], torch.arange(3.0))


def test_resolution_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        resolve_model_dir(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty.*not a quakesynth model directory"):
        resolve_model_dir(tmp_path / "empty")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"format": "something-else"}))
    assert resolve_model_dir(tmp_path / "other") == tmp_path / "other"  # the reader says what is wrong
    with pytest.raises(ValueError, match="format"):
        read_config(tmp_path / "other")


def test_read_kind_reads_no_weights_and_defaults_to_highfem(tmp_path):
    d = _save(tmp_path / "m", kind="site_cvae")
    (d / "w.pt").unlink()  # the kind comes from config.json alone
    assert read_kind(d) == "site_cvae" and read_kind(tmp_path / "m") == "site_cvae"
    old = tmp_path / "old"  # the first format had no "model" entry: a HighFEM model
    old.mkdir()
    (old / "config.json").write_text(json.dumps({"format": FORMAT, "format_version": 1, "weights": {}}))
    assert read_kind(old) == "highfem"
    (old / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_kind(old)
    with pytest.raises(ValueError, match="not a quakesynth model directory"):
        read_kind(tmp_path)


def test_kind_check_and_config_only_loading(tmp_path):
    d = _save(tmp_path / "m", kind="classifier")
    with pytest.raises(ValueError, match="'classifier' model, not a 'highfem' or 'vae' model"):
        load_model_dir(d, kind=("highfem", "vae"))
    config, states = load_model_dir(d, names=[], kind="classifier")
    assert states == {} and config["x"] == 1.5


def test_the_shipped_default_model_still_loads_through_the_api():
    default = SRC / "weights" / "default"
    if not (default / "config.json").exists():
        pytest.skip("this build ships no default model")
    assert read_kind(default) == "highfem"
    config, states = load_model_dir(default, kind="highfem")
    assert {"vae", "edm"} <= set(states) and config["format"] == FORMAT


def test_one_resolution_rule_in_the_package():
    """No module other than modeldir re-implements 'a run folder or its model/ subfolder'."""
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                 if p.name != "modeldir.py" and '/ "model" / "config.json"' in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_modeldir_imports_no_torch():
    code = ("import sys, quakesynth.modeldir as m\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-500:]
