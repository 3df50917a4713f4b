"""The classifier of the evaluation: embeddings, predicted and true magnitude-distance classes.

The harness needs three things from a classifier, whatever its architecture:

- ``embed_predict(records) -> (embedding (N, D) float32, predicted class (N,) int)``;
- ``labels(metadata) -> (N,) int``: the true class of each record from its conditioning
  (-1 outside the classifier's grid).

:class:`ClassifierAdapter` provides them for a classifier trained with
``quakesynth train classifier`` (a model directory with ``config.json`` ``{"model":
"classifier", "spectrogram", "classifier", "waveform", ...}``): waveforms are put in the
classifier's component order, cropped or zero-padded to its length, turned into its
log-spectrogram and passed through :meth:`SpectrogramClassifier.embed`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quakesynth.records import CONDITIONING_COLUMNS, Records
from quakesynth.signal import fit_length


class ClassifierAdapter:
    """A trained spectrogram classifier seen through the harness's interface.

    Parameters
    ----------
    net : :class:`quakesynth.models.classifier.SpectrogramClassifier` (eval mode).
    representation : callable (B, C, T) waveform tensor -> (B, C, F, T') spectrogram tensor.
    fs : sampling rate the classifier expects, Hz.
    components : its component order (e.g. ``"ZNE"``).
    n_samples : its input length, samples.
    mag_bins, dist_bins : class grid (magnitude; hypocentral distance in km).
    batch_size : records per forward pass.
    """

    def __init__(self, net: Any, representation: Any, fs: float, components: str, n_samples: int,
                 mag_bins, dist_bins, batch_size: int = 64) -> None:
        self.net, self.rep = net, representation
        self.fs, self.components, self.n_samples = float(fs), components, int(n_samples)
        self.mag_bins, self.dist_bins = tuple(mag_bins), tuple(dist_bins)
        self.batch_size = batch_size

    @classmethod
    def load(cls, path: str | Path, weights: str = "ema") -> ClassifierAdapter:
        """From a classifier model directory (or its ``train classifier`` run folder)."""
        from quakesynth.config import from_dict
        from quakesynth.modeldir import load_model_dir, resolve_model_dir
        from quakesynth.models.classifier import ClassifierConfig, SpectrogramClassifier
        from quakesynth.repr.spectrogram import LogSpectrogram, SpectrogramConfig

        if not Path(path).exists():
            raise FileNotFoundError(f"classifier {str(path)!r} not found")
        config, states = load_model_dir(resolve_model_dir(path))
        if config.get("model") != "classifier":
            raise ValueError(f"{str(path)!r} holds a {config.get('model')!r} model, not a classifier")
        key = "classifier" if weights == "ema" else "classifier_raw"
        ccfg = from_dict(ClassifierConfig, config["classifier"])
        net = SpectrogramClassifier(ccfg)
        net.load_state_dict(states[key])
        net.eval()
        spec = from_dict(SpectrogramConfig, config["spectrogram"])
        rep = LogSpectrogram(spec)
        wf = config.get("waveform", {})
        return cls(net, rep.forward, fs=wf.get("fs", spec.fs), components=wf.get("components", "ZNE"),
                   n_samples=wf.get("n_samples", spec.n_samples), mag_bins=ccfg.mag_bins,
                   dist_bins=ccfg.dist_bins)

    def _inputs(self, records: Records) -> np.ndarray:
        if abs(records.fs - self.fs) > 1e-6:
            raise ValueError(f"the classifier expects fs={self.fs:g} Hz; records have {records.fs:g} Hz")
        x = records.select_components(self.components).data
        return fit_length(x, self.n_samples)

    def embed_predict(self, records: Records) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings (N, D) float32 and predicted classes (N,) int64."""
        import torch

        x = self._inputs(records)
        embs, preds = [], []
        with torch.inference_mode():
            for s in range(0, len(x), self.batch_size):
                spec = self.rep(torch.from_numpy(x[s:s + self.batch_size]))
                e = self.net.embed(spec)
                logits = self.net.head(e)
                embs.append(e.float().numpy())
                preds.append(logits.argmax(dim=1).numpy())
        return np.concatenate(embs).astype(np.float32), np.concatenate(preds).astype(np.int64)

    def labels(self, metadata: pd.DataFrame) -> np.ndarray:
        """True classes (N,) from magnitude and hypocentral distance; -1 outside the grid."""
        from quakesynth.models.classifier import bin_labels

        m = pd.to_numeric(metadata[CONDITIONING_COLUMNS["magnitude"]], errors="coerce").to_numpy(float)
        d = pd.to_numeric(metadata[CONDITIONING_COLUMNS["distance"]], errors="coerce").to_numpy(float)
        return bin_labels(m, d, self.mag_bins, self.dist_bins)
