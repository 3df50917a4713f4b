"""The evaluation's classifier adapter on a tiny trained-format classifier model directory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")


@pytest.fixture
def classifier_dir(tmp_path):
    from quakesynth.config import to_dict
    from quakesynth.modeldir import save_model_dir
    from quakesynth.models.classifier import ClassifierConfig, SpectrogramClassifier, class_names
    from quakesynth.repr.spectrogram import SpectrogramConfig

    torch.manual_seed(0)
    spec = SpectrogramConfig(n_fft=64, hop=16, n_samples=512)
    c = ClassifierConfig(model_channels=8, channel_mult=(1, 2), embed_dim=16)
    net = SpectrogramClassifier(c)
    conf = {"model": "classifier", "spectrogram": to_dict(spec), "classifier": to_dict(c),
            "classes": class_names(c.mag_bins, c.dist_bins),
            "waveform": {"fs": 100.0, "components": "ZNE", "n_samples": 512, "quantity": "acceleration",
                         "unit": "m/s^2"}}
    state = net.state_dict()
    return save_model_dir(tmp_path / "clf", conf, {"classifier": state, "classifier_raw": state}), net, spec


def test_adapter_embeds_like_the_network(classifier_dir):
    from quakesynth.evaluate.classifier import ClassifierAdapter
    from quakesynth.records import Records
    from quakesynth.repr.spectrogram import LogSpectrogram

    path, net, spec = classifier_dir
    ad = ClassifierAdapter.load(path)
    rng = np.random.default_rng(0)
    meta = pd.DataFrame({"source_magnitude": [4.5, 6.0, 8.0, 3.0], "path_hyp_distance_km": [50.0, 120.0, 10.0, 10.0]})
    data = rng.standard_normal((4, 3, 600)).astype(np.float32)  # longer than the classifier's 512 samples
    rec = Records(data, fs=100.0, components="NEZ", metadata=meta)
    emb, pred = ad.embed_predict(rec)
    assert emb.shape == (4, 16) and emb.dtype == np.float32 and pred.shape == (4,)
    # the same as the network on the cropped, reordered (ZNE) log-spectrogram
    x = torch.from_numpy(np.ascontiguousarray(data[:, [2, 0, 1], :512]))
    with torch.no_grad():
        ref = net.eval().embed(LogSpectrogram(spec).forward(x)).numpy()
    np.testing.assert_allclose(emb, ref, rtol=1e-5, atol=1e-6)
    assert ad.labels(meta).tolist()[3] == -1  # M3 is outside the grid
    assert ad.labels(meta)[0] >= 0
    with pytest.raises(ValueError, match="expects fs=100"):
        ad.embed_predict(Records(data, fs=50.0, components="NEZ"))


def test_adapter_rejects_other_models(tmp_path, classifier_dir):
    import json
    import shutil

    from quakesynth.evaluate.classifier import ClassifierAdapter

    path, _, _ = classifier_dir
    other = tmp_path / "other"
    shutil.copytree(path, other)
    conf = json.loads((other / "config.json").read_text())
    conf["model"] = "vae"
    (other / "config.json").write_text(json.dumps(conf))
    with pytest.raises(ValueError, match="not a classifier"):
        ClassifierAdapter.load(other)
    with pytest.raises(FileNotFoundError):
        ClassifierAdapter.load(tmp_path / "missing")
