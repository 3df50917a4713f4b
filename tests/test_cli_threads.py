"""Every command that runs networks or compiled kernels has ``--threads`` (issue 14 item 8), and
the value reaches torch and the OpenMP/BLAS environment of the process and its workers."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from quakesynth.cli.main import cli

#: Commands that run torch networks, numpy/scipy kernels on whole datasets, or devito.
COMPUTE_COMMANDS = [
    ["generate"], ["simulate"], ["simulate-3d"], ["evaluate"], ["ims"], ["ingest"], ["refine"],
    ["calibrate"], ["bench"], ["train", "vae"], ["train", "edm"], ["train", "classifier"],
]


@pytest.mark.parametrize("command", COMPUTE_COMMANDS, ids=" ".join)
def test_compute_commands_have_threads(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--threads" in result.output, f"`quakesynth {' '.join(command)}` has no --threads option"


def test_threads_reach_torch_and_the_environment(monkeypatch):
    import torch

    from quakesynth.parallel import set_threads

    before = torch.get_num_threads()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(var, "7")  # restored by monkeypatch
    try:
        assert set_threads(2) == 2
        assert torch.get_num_threads() == 2
        assert all(os.environ[v] == "2" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"))
        monkeypatch.delenv("QUAKESYNTH_THREADS", raising=False)
        assert set_threads() == 1  # the default: one thread per process
    finally:
        torch.set_num_threads(before)
