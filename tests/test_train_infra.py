"""Training infrastructure on a trivial module: data order, schedule, EMA, resume identity,
weights-only checkpoints, CSV loss curves, DDP on two CPU processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

pl = pytest.importorskip("lightning.pytorch")

from quakesynth.train.batching import StepBatchSampler, stream_indices  # noqa: E402
from quakesynth.train.callbacks import EMA  # noqa: E402
from quakesynth.train.config import TrainConfig  # noqa: E402
from quakesynth.train.fit import ArrayDataset, StepDataModule, fit  # noqa: E402
from quakesynth.train.modules import TrainModule, cosine_factor  # noqa: E402


class Regression(TrainModule):
    """y = x . w with dropout and input noise: every step draws random numbers."""

    def __init__(self, train: TrainConfig, dropout: float = 0.2, noise: float = 0.01) -> None:
        super().__init__(train)
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Dropout(dropout),
                                       torch.nn.Linear(16, 1))
        self.noise = noise

    def ema_target(self):
        return self.net

    def compute_loss(self, batch):
        x = batch["x"] + self.noise * torch.randn_like(batch["x"])
        return ((self.net(x)[:, 0] - batch["y"]) ** 2).mean(), {"mae": (self.net(x)[:, 0] - batch["y"]).abs().mean()}


def _data(n=40):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    return x, (x @ np.array([1.0, -2.0, 0.5, 3.0])).astype(np.float32)


class Crash(pl.Callback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.at:
            raise RuntimeError("simulated crash")


def _run(out, steps, resume=False, crash_at=None, lr=1e-2):
    cfg = TrainConfig(max_steps=steps, batch_size=8, lr=lr, checkpoint_every=3, log_every=1,
                      val_every=4, val_batches=1, ema_decay=0.9)
    torch.manual_seed(0)
    module = Regression(cfg)
    x, y = _data()
    dm = StepDataModule(ArrayDataset(x=x, y=y), ArrayDataset(x=x[:8], y=y[:8]), 8, cfg.seed, cfg.max_steps)
    extra = [Crash(crash_at)] if crash_at else []
    trainer, ema = fit(module, dm, out, cfg, resume=resume, progress=False, extra_callbacks=extra)
    return module, ema, trainer


def test_stream_is_a_sequence_of_permutations_and_ranks_partition_the_global_batch():
    idx = stream_indices(10, seed=3, start=0, count=30)
    for e in range(3):
        assert sorted(idx[10 * e:10 * (e + 1)].tolist()) == list(range(10))
    assert not np.array_equal(idx[:10], idx[10:20])
    s = StepBatchSampler(10, batch_size=3, seed=3)
    glob = StepBatchSampler(10, batch_size=6, seed=3).batch(5)
    parts = np.concatenate([s.batch(5, rank=r, world_size=2) for r in range(2)])
    np.testing.assert_array_equal(parts, glob)
    # resuming the iterator at step k gives batches k, k+1, ...
    it = iter(StepBatchSampler(10, 3, seed=3, start_step=lambda: 4, max_steps=6))
    assert [next(it), next(it)] == [s.batch(4).tolist(), s.batch(5).tolist()]


def test_cosine_schedule_with_warmup():
    assert cosine_factor(0, 100, warmup_steps=10) == pytest.approx(0.1)
    assert cosine_factor(9, 100, warmup_steps=10) == pytest.approx(1.0)
    assert cosine_factor(10, 100, warmup_steps=10) == pytest.approx(1.0)
    assert cosine_factor(55, 100, warmup_steps=10, floor=0.2) == pytest.approx(0.6)
    assert cosine_factor(500, 100, floor=0.2) == pytest.approx(0.2)
    # a wall-clock budget: the cosine follows whichever of steps and time is further along
    assert cosine_factor(10, 100, elapsed=0.5) == pytest.approx(0.5)
    assert cosine_factor(60, 100, elapsed=0.1) == cosine_factor(60, 100)
    assert cosine_factor(10, 100, elapsed=3.0) == pytest.approx(0.0)
    assert cosine_factor(5, 100, warmup_steps=10, elapsed=0.9) == pytest.approx(0.6)  # warm-up by steps


class SlowStep(pl.Callback):
    """Every optimiser step takes at least ``seconds`` of wall clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, *args) -> None:
        import time

        time.sleep(self.seconds)


def test_time_budget_stops_the_run_anneals_and_leaves_a_checkpoint(tmp_path):
    # 0.02 minute = 1.2 s at >= 0.1 s per step: far fewer than the 10,000 steps asked for
    cfg = TrainConfig(max_steps=10_000, max_minutes=0.02, batch_size=8, lr=1e-2, checkpoint_every=1000,
                      log_every=1)
    torch.manual_seed(0)
    module = Regression(cfg)
    x, y = _data()
    dm = StepDataModule(ArrayDataset(x=x, y=y), None, 8, cfg.seed, cfg.max_steps)
    trainer, ema = fit(module, dm, tmp_path / "run", cfg, progress=False, extra_callbacks=[SlowStep(0.1)])
    steps = trainer.global_step
    assert 2 <= steps <= 13
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == steps  # saved at the stop, not only every checkpoint_every steps
    rows = (tmp_path / "run" / "logs" / "metrics.csv").read_text().splitlines()
    li = rows[0].split(",").index("train/lr")
    lrs = [float(r.split(",")[li]) for r in rows[1:] if r.split(",")[li]]
    # by steps alone the rate would still be ~1e-2; the time budget took it most of the way down
    # (the scheduler's last step came within one slow step of the budget's end)
    assert lrs[0] > 0.9e-2 and trainer.optimizers[0].param_groups[0]["lr"] < 0.3e-2
    with pytest.raises(ValueError, match="max_minutes"):
        TrainConfig(max_minutes=-1.0)


def test_ema_update_rule():
    ema = EMA(0.9, rampup=False)
    assert ema.beta(0) == 0.9 and EMA(0.999).beta(0) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="decay"):
        EMA(1.0)


def test_trainconfig_rejects_bad_values():
    with pytest.raises(ValueError, match="max_steps"):
        TrainConfig(max_steps=0)
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="8")


def test_loss_falls_ema_and_checkpoint_files(tmp_path):
    module, ema, trainer = _run(tmp_path / "run", 30, lr=3e-2)
    rows = (tmp_path / "run" / "logs" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    li = header.index("train/loss")
    losses = [float(r.split(",")[li]) for r in rows[1:] if r.split(",")[li]]
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert "val/loss" in header
    # EMA differs from the raw weights but is close to them after training
    avg = ema.averaged_state_dict()
    raw = module.net.state_dict()
    assert set(avg) == set(raw)
    assert any(not torch.equal(avg[k], raw[k]) for k in raw)
    # checkpoints load with weights-only deserialisation and hold the EMA
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 30
    assert torch.equal(ckpt["callbacks"]["EMA"]["ema"]["0.weight"], avg["0.weight"])
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["last.ckpt", "step-00000030.ckpt"]


def test_resume_after_crash_equals_uninterrupted_run(tmp_path):
    """Train 10 steps straight vs. crash at step 8 (last checkpoint at 6) + resume: identical
    weights, EMA, optimiser state and loss curve."""
    a, ema_a, _ = _run(tmp_path / "a", 10)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(tmp_path / "b", 10, crash_at=8)
    b, ema_b, tr = _run(tmp_path / "b", 10, resume=True)
    assert tr.global_step == 10
    for k, v in a.net.state_dict().items():
        assert torch.equal(v, b.net.state_dict()[k]), k
    for k, v in ema_a.averaged_state_dict().items():
        assert torch.equal(v, ema_b.averaged_state_dict()[k]), k
    ca = torch.load(tmp_path / "a" / "checkpoints" / "last.ckpt", weights_only=True)
    cb = torch.load(tmp_path / "b" / "checkpoints" / "last.ckpt", weights_only=True)
    for sa, sb in zip(ca["optimizer_states"][0]["state"].values(), cb["optimizer_states"][0]["state"].values()):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"])
    la = (tmp_path / "a" / "logs" / "metrics.csv").read_text()
    lb = (tmp_path / "b" / "logs" / "metrics.csv").read_text()
    assert la == lb  # one continuous curve, the crashed segment replaced


class Payload:
    """An arbitrary class: a weights-only load must refuse to unpickle it."""


def test_resume_refuses_pickled_objects(tmp_path):
    import pickle

    _run(tmp_path / "r", 3)
    ckpt_path = tmp_path / "r" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(ckpt_path, weights_only=True)
    ckpt["payload"] = Payload()
    torch.save(ckpt, ckpt_path)
    with pytest.raises(pickle.UnpicklingError):
        _run(tmp_path / "r", 6, resume=True)


def test_bf16_mixed_precision_trains(tmp_path):
    cfg = TrainConfig(max_steps=4, batch_size=8, lr=1e-2, checkpoint_every=4, log_every=1, precision="bf16-mixed")
    torch.manual_seed(0)
    module = Regression(cfg)
    x, y = _data()
    trainer, _ = fit(module, StepDataModule(ArrayDataset(x=x, y=y), None, 8, 0, 4), tmp_path / "bf16", cfg,
                     progress=False)
    assert trainer.global_step == 4
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        _run(tmp_path / "none", 5, resume=True)


DDP_SCRIPT = textwrap.dedent('''
    import sys, numpy as np, torch
    sys.path.insert(0, {tests!r})
    from test_train_infra import Regression, _data
    from quakesynth.train.config import TrainConfig
    from quakesynth.train.fit import ArrayDataset, StepDataModule, fit
    out, devices = sys.argv[1], int(sys.argv[2])
    bs = 8 // devices
    cfg = TrainConfig(max_steps=6, batch_size=bs, lr=1e-2, checkpoint_every=3, log_every=1)
    torch.manual_seed(0)
    m = Regression(cfg, dropout=0.0, noise=0.0)
    x, y = _data()
    dm = StepDataModule(ArrayDataset(x=x, y=y), None, bs, 0, cfg.max_steps)
    tr, ema = fit(m, dm, out, cfg, devices=devices, accelerator="cpu", progress=False)
    torch.save({{"rank": tr.global_rank, "world": tr.world_size, "w": m.net.state_dict()}},
               f"{{out}}/final-{{tr.global_rank}}.pt")
''')


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_one_process_with_the_global_batch(tmp_path):
    """Lightning DDP (gloo) on 2 CPU processes with batch 4 each == 1 process with batch 8."""
    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT.format(tests=str(__import__("pathlib").Path(__file__).parent)))
    # Both processes start at once (as torchrun / SLURM launch them), so their imports overlap;
    # Lightning sees LOCAL_RANK and joins the gloo process group instead of spawning.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    procs = []
    for rank in range(2):
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2",
               "NODE_RANK": "0", "LOCAL_RANK": str(rank)}
        procs.append(subprocess.Popen([sys.executable, str(script), str(tmp_path / "d2"), "2"], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
    r0 = torch.load(tmp_path / "d2" / "final-0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "d2" / "final-1.pt", weights_only=True)
    assert r0["world"] == 2 and r1["rank"] == 1
    # the same run in this process, one device with the global batch
    cfg = TrainConfig(max_steps=6, batch_size=8, lr=1e-2, checkpoint_every=3, log_every=1)
    torch.manual_seed(0)
    m = Regression(cfg, dropout=0.0, noise=0.0)
    x, y = _data()
    fit(m, StepDataModule(ArrayDataset(x=x, y=y), None, 8, 0, 6), tmp_path / "d1", cfg, progress=False)
    single = {"w": m.net.state_dict()}
    for k, v in single["w"].items():
        assert torch.equal(r0["w"][k], r1["w"][k])  # ranks stay in sync
        torch.testing.assert_close(r0["w"][k], v, rtol=1e-5, atol=1e-6)
    assert (tmp_path / "d2" / "checkpoints" / "last.ckpt").exists()
