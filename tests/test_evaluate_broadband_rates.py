"""A broadband method that answers at its own rate (the refiner: 100 Hz) is judged against a truth at
another rate and an odd length (PEER AT2 records: 200 Hz, e.g. 8,773 samples): the prediction is
brought back to the truth's rate and length, not refused for one extra sample."""

from __future__ import annotations

import numpy as np

from quakesynth.records import Records


def test_prediction_at_half_rate_and_odd_truth_length():
    from quakesynth.data.preprocess import resample
    from quakesynth.evaluate.broadband import evaluate

    rng = np.random.default_rng(0)
    T = 8773  # odd: resampling 200 -> 100 -> 200 Hz gives 8,774 samples
    truth = Records(rng.normal(size=(1, 2, T)).astype(np.float32) * 0.1, fs=200.0, components="NE")

    def identity_at_100hz(low: Records) -> Records:
        return low.replace(data=resample(low.data, 200.0, 100.0).astype(np.float32), fs=100.0)

    rep = evaluate(truth, {"identity": identity_at_100hz}, fc=1.0)["identity"]
    assert "error" not in rep, rep
    # the method returns the low-passed input: kept below 0.8 fc (resampling round trip only)
    assert rep["summary"]["kept_max"] < 0.01
