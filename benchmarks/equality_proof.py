"""Byte-identity proof for the restructuring (issue 15): the same inputs and seeds give the same bytes.

Run once on the code *before* a change (``save``), keep the folder, and run ``check`` on the code after it:

    OMP_NUM_THREADS=1 python benchmarks/equality_proof.py save runs/equality-before
    OMP_NUM_THREADS=1 python benchmarks/equality_proof.py check runs/equality-before

Outputs compared, all at one torch thread (the thread count is part of "one device", see
benchmarks/results/reliability.md):

- ``default``: the shipped default model's waveforms (float32 bytes) for three scenarios;
- ``corpus``: a 5-event x 3-station simulator corpus (``quakesynth simulate``): the waveform array
  bytes and ``metadata.csv``;
- ``ims``: ``quakesynth ims`` on that corpus (the CSV file's bytes);
- ``report``: ``quakesynth evaluate --model stochastic`` on that corpus (``metrics.json`` bytes);
- ``tqdne``: the converted published checkpoints (../shared/data/tqdne): one denoiser call and the
  decoder on the reference inputs (float32 bytes); skipped where ../shared is absent.

``check`` prints one line per output (equal / DIFFERENT with the first differing item) and exits 1 on
any difference.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _cli(*args: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", QUAKESYNTH_THREADS="1")
    subprocess.run([sys.executable, "-m", "quakesynth", *args], check=True, env=env, stdout=subprocess.DEVNULL)


def _default() -> dict[str, str]:
    import torch

    import quakesynth

    torch.set_num_threads(1)
    model = quakesynth.load_model("default")
    stoch = quakesynth.load_model("stochastic")
    out = {}
    for i, (m, r) in enumerate([(4.5, 50.0), (5.5, 40.0), (6.5, 30.0)]):
        # Records: data (N, 3, T) float32 m/s^2 and metadata; both are compared
        w = model.generate(magnitude=m, distance=r, vs30=400.0, depth=10.0, gap=120.0, n=5, seed=7 + i)
        out[f"default/M{m}_R{r}"] = _sha(w.data.tobytes())
        out[f"default/M{m}_R{r}/metadata"] = _sha(w.metadata.to_csv(index=False).encode())
    w = stoch.generate(magnitude=6.0, distance=30.0, vs30=400.0, depth=10.0, gap=120.0, n=4, seed=3)
    out["stochastic/M6_R30"] = _sha(w.data.tobytes())
    out["stochastic/M6_R30/metadata"] = _sha(w.metadata.to_csv(index=False).encode())
    return out


def _corpus_ims_report(tmp: Path) -> dict[str, str]:
    import h5py

    corpus = tmp / "corpus"
    _cli("simulate", "--events", "5", "--stations-per-event", "3", "-o", str(corpus), "--seed", "0",
         "--workers", "1", "--no-progress")
    out = {}
    with h5py.File(corpus / "waveforms.hdf5", "r") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for n in sorted(names):
            out[f"corpus/{n}"] = _sha(np.ascontiguousarray(f[n][()]).tobytes())
    out["corpus/metadata.csv"] = _sha((corpus / "metadata.csv").read_bytes())
    _cli("ims", str(corpus), "-o", str(tmp / "ims.csv"), "--workers", "1", "--no-progress")
    out["ims/ims.csv"] = _sha((tmp / "ims.csv").read_bytes())
    _cli("evaluate", "--data", str(corpus), "--model", "stochastic", "-n", "1", "-o", str(tmp / "report"),
         "--gmm", "BooreEtAl2014", "--workers", "1", "--no-progress")
    metrics = json.loads((tmp / "report" / "metrics.json").read_text())
    run = metrics.get("run", {})
    run.pop("timing", None)  # wall-clock and CPU seconds, not numeric output
    run.pop("data", None)  # the (temporary) dataset path
    out["report/metrics.json"] = _sha(json.dumps(metrics, sort_keys=True).encode())
    return out


def _tqdne() -> dict[str, str]:
    import torch

    from quakesynth.config import from_dict
    from quakesynth.models.edm import EDMPrecond
    from quakesynth.models.tqdne_import import convert_tqdne
    from quakesynth.models.unet import UNet, UNetConfig
    from quakesynth.models.vae import VAE, VAEConfig

    d = SHARED / "tqdne"
    if not (d / "edm.ckpt").exists():
        return {}
    torch.set_num_threads(1)
    ref = dict(np.load(d / "reference.npz"))
    configs, sds = convert_tqdne(d / "edm.ckpt", d / "autoencoder.ckpt")
    vae = VAE(from_dict(VAEConfig, configs["vae"])).eval()
    vae.load_state_dict(sds["vae"])
    net = EDMPrecond(UNet(from_dict(UNetConfig, configs["unet"])), configs["edm"]["sigma_data"]).eval()
    net.load_state_dict(sds["edm"])
    with torch.no_grad():
        dec = vae.decode(torch.from_numpy(ref["decoder_latent_in"])).numpy()
        den = net(torch.from_numpy(ref["sampler_init_noise"]), torch.full((2,), 80.0),
                  torch.from_numpy(ref["sampler_cond"])).numpy()
    return {"tqdne/decoder": _sha(dec.tobytes()), "tqdne/denoiser": _sha(den.tobytes())}


def collect() -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = {}
        out.update(_default())
        out.update(_corpus_ims_report(Path(tmp)))
        out.update(_tqdne())
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("save", "check"):
        print(__doc__)
        return 2
    folder = Path(argv[1])
    hashes = collect()
    if argv[0] == "save":
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "hashes.json").write_text(json.dumps(hashes, indent=1, sort_keys=True))
        print(f"saved {len(hashes)} hashes to {folder / 'hashes.json'}")
        return 0
    before = json.loads((folder / "hashes.json").read_text())
    bad = 0
    for key in sorted(set(before) | set(hashes)):
        same = before.get(key) == hashes.get(key)
        bad += not same
        print(f"{'equal    ' if same else 'DIFFERENT'} {key}")
    print(f"{len(before) - bad if bad <= len(before) else 0} of {len(before)} equal")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
