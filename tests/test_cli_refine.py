"""``quakesynth refine``: a tiny refiner trained on low-passed records, miniSEED / SAC in and out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quakesynth.cli.main import main
from quakesynth.records import Records


@pytest.fixture(scope="module")
def refiner_dir(tmp_path_factory):
    """A refiner trained for a few steps on low-passed windows of ObsPy's example record."""
    import obspy

    from quakesynth.models.refiner import RefinerConfig
    from quakesynth.physics.data import lowpass_pairs
    from quakesynth.train.config import TrainConfig
    from quakesynth.train.recipes import train_refiner

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rec = Records.from_obspy(obspy.read(), quantity="velocity", unit="m/s")
        x = rec.data[0]
        wins = np.stack([x[:, i:i + 128] for i in range(0, 2800, 100)])
        pairs = lowpass_pairs(wins, rec.fs, 5.0)
        train = TrainConfig(max_steps=3, batch_size=8, lr=1e-3, checkpoint_every=3, log_every=1)
        cfg = RefinerConfig(model_channels=8, emb_channels=16, channel_mult=(1, 2))
        path = train_refiner(pairs, tmp_path_factory.mktemp("ref"), cfg, train, fs=rec.fs,
                             extra={"lowpass_hz": 5.0})
    finally:
        torch.set_num_threads(n)
    return path


def test_refine_mseed_and_sac(tmp_path, refiner_dir):
    import obspy

    from quakesynth.data.preprocess import lowpass
    from quakesynth.formats import read_records, write_records
    from quakesynth.physics.refine import refine_records

    rec = Records.from_obspy(obspy.read(), quantity="velocity", unit="m/s")
    low = rec.replace(data=lowpass(rec.data, rec.fs, 5.0).astype(np.float32))
    src = write_records(low, tmp_path / "low.mseed")
    out = tmp_path / "broad.mseed"
    assert main(["refine", str(src), "--model", str(refiner_dir), "-o", str(out), "--steps", "2",
                 "--no-progress"]) == 0
    got = read_records(out)
    assert got.data.shape == low.data.shape and got.fs == low.fs and got.components == low.components
    assert got.processing(0)[-1]["step"] == "refine"
    assert not np.allclose(got.data, low.data)
    # the CLI is the library function (same seed, same output)
    lib = refine_records(read_records(src), refiner_dir, num_steps=2, seed=0)
    np.testing.assert_allclose(got.data, lib.data, rtol=1e-5, atol=1e-12)
    sac = tmp_path / "broad.sac"
    assert main(["refine", str(src), "--model", str(refiner_dir), "-o", str(sac), "--steps", "2",
                 "--seed", "1", "--no-progress"]) == 0
    assert read_records(sac).data.shape == low.data.shape
    # existing output and wrong component count are one-line errors
    assert main(["refine", str(src), "--model", str(refiner_dir), "-o", str(out), "--no-progress"]) == 2
    two = write_records(low.select_components("NE"), tmp_path / "two.mseed")
    assert main(["refine", str(two), "--model", str(refiner_dir), "-o", str(tmp_path / "x.mseed"),
                 "--no-progress"]) == 2


def test_refine_help_has_example(capsys):
    from conftest import assert_help_has_example

    for command in ("refine", "simulate-3d"):
        assert main([command, "--help"]) == 0
        assert_help_has_example(capsys.readouterr().out, command)
