"""Data-parallel generation: two CPU processes give exactly the single-process result."""

import numpy as np
import pandas as pd
import pytest

from quakesynth.formats import read_records
from quakesynth.generate import Generator, generate_to_file
from quakesynth.parallel import generate_parallel, generate_rank, merge_parts, rank_slice


class ParallelToy(Generator):
    """Module-level, so spawned workers can unpickle it."""

    name = "toy-parallel"
    ranges = {"magnitude": (4.0, 7.5)}
    n_samples = 64
    default_batch_size = 3

    def _generate(self, cond, seeds, device="cpu"):
        out = np.empty((len(seeds), 3, self.n_samples), np.float32)
        for i, s in enumerate(seeds):
            out[i] = np.random.default_rng(int(s)).standard_normal((3, self.n_samples)) * cond[i, 0]
        return out


TABLE = pd.DataFrame({"magnitude": [5.0, 6.5, 7.0], "distance": 30.0, "vs30": 400.0, "depth": 10.0,
                      "gap": 120.0, "n": [4, 3, 4]})


@pytest.mark.parametrize("world", [1, 2, 3, 11, 12])
def test_rank_slices_partition_the_table(world):
    slices = [rank_slice(11, r, world) for r in range(world)]
    assert np.concatenate([np.arange(11)[s] for s in slices]).tolist() == list(range(11))


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    one = generate_to_file(ParallelToy(), TABLE, tmp_path / "one.h5", seed=5, batch_size=5)
    two = generate_parallel(ParallelToy, TABLE, tmp_path / "two.h5", workers=2, seed=5, batch_size=2)
    assert one == two == 11
    a, b = read_records(tmp_path / "one.h5"), read_records(tmp_path / "two.h5")
    np.testing.assert_array_equal(a.data, b.data)
    pd.testing.assert_frame_equal(a.metadata, b.metadata)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.h5", "two.h5"]  # no parts left


def test_ranks_then_merge_equal_one(tmp_path):
    """The multi-node path (each rank writes a part, one process merges), in one process."""
    for r in range(3):
        generate_rank(ParallelToy, TABLE, tmp_path / "parts", r, 3, seed=2)
    merge_parts(tmp_path / "parts", tmp_path / "merged.npz")
    whole = ParallelToy().generate_table(TABLE, seed=2)
    np.testing.assert_array_equal(read_records(tmp_path / "merged.npz").data, whole.data)


# a failing worker (one-line error, nothing left behind) is tested through the CLI in
# test_generate_cli.py::test_a_failing_worker_is_one_line_exit_1


def test_existing_output_fails_before_any_work(tmp_path):
    (tmp_path / "out.h5").write_text("keep")
    with pytest.raises(FileExistsError):
        generate_parallel(ParallelToy, TABLE, tmp_path / "out.h5", workers=2)
    assert (tmp_path / "out.h5").read_text() == "keep"
