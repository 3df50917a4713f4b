"""Config dataclasses from YAML presets and ``--set key=value`` overrides."""

from __future__ import annotations

import pytest

from quakesynth.config import apply_overrides, from_dict
from quakesynth.train.config import TrainConfig, resolve_config


def test_exponent_without_a_dot_is_a_number():
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; a float field takes it as the number. The
    override ``train.lr=1e-4`` used to end in a TypeError deep inside the config's validation."""
    cfg = resolve_config("edm", "tiny", overrides=["train.lr=1e-4", "train.lr_min=2E-6"])
    assert cfg.train.lr == pytest.approx(1e-4) and isinstance(cfg.train.lr, float)
    assert cfg.train.lr_min == pytest.approx(2e-6)
    assert from_dict(TrainConfig, {"lr": "3e-3"}).lr == pytest.approx(3e-3)
    # text that is not a number is a one-line ValueError naming the field
    with pytest.raises(ValueError, match=r"TrainConfig.lr must be a number; got 'fast'"):
        resolve_config("edm", "tiny", overrides=["train.lr=fast"])
    # other fields are untouched: strings stay strings, ints stay ints
    d = apply_overrides({"a": {"b": 1, "c": "x"}}, ["a.b=2", "a.c=1e-4"])
    assert d == {"a": {"b": 2, "c": "1e-4"}}
