"""The site section of the evaluation: site-specific (station-conditioned) models judged by
the same harness (issue 15, item 5).

Records at three stations carry each station's resonance (an HVSR peak at its f0). A model
that generates each station's resonance is confused like the data (NCC near 1, the same
accuracy); one that gives every station another station's resonance is recognised as the
wrong station (accuracy near 0). The site metrics' own tests are in test_evaluate_site_metrics.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quakesynth.evaluate import EvaluateConfig, RecordSet, evaluate
from quakesynth.evaluate.harness import select_records, station_codes, uses_station
from quakesynth.generate.station import StationGenerator
from quakesynth.records import Records

FS, T = 100.0, 1024
F0 = {"A": 1.5, "B": 4.0, "C": 10.0}


def _resonant(n, f0, seed):
    from conftest import resonant_records

    return resonant_records(n, f0, FS, T, seed) * 1e-2


class ToySite(StationGenerator):
    """Each station's resonance; ``shift`` gives station i the resonance of station i + shift."""

    fs, n_samples, components, default_batch_size = FS, T, "ZNE", 8

    def __init__(self, shift: int = 0, name: str = "toy-site"):
        self.codes, self.shift, self.name = list(F0), shift, name

    def _generate(self, cond, seeds, device="cpu"):
        f0s = list(F0.values())
        return np.concatenate([_resonant(1, f0s[(int(c[0]) + self.shift) % 3], int(s)) for c, s in zip(cond, seeds)]
                              ).astype(np.float32)


def _data(per_station=6, extra_station=False) -> RecordSet:
    codes = [c for c in F0 for _ in range(per_station)] + (["Z9"] if extra_station else [])
    x = np.concatenate([_resonant(1, F0.get(c, 3.0), 100 + i) for i, c in enumerate(codes)])
    n = len(codes)
    meta = pd.DataFrame({"station_code": codes, "station_network_code": "XX", "trace_name": [f"r{i}" for i in range(n)],
                         "source_id": [f"ev{i}" for i in range(n)], "source_magnitude": 5.0,
                         "path_hyp_distance_km": 50.0, "station_vs30_mps": 400.0, "source_depth_km": 10.0,
                         "path_azimuthal_gap_deg": 90.0})
    return RecordSet.from_records(Records(x.astype(np.float32), fs=FS, components="ZNE", metadata=meta))


def test_site_section_tells_the_right_stations_from_the_wrong_ones(tmp_path):
    cfg = EvaluateConfig(realizations=1, scenarios=(), batch_size=8)
    res = evaluate(_data(), {"right": ToySite(0), "wrong": ToySite(1, "wrong")}, {}, tmp_path / "r", cfg)
    site = res.metrics["site"]
    assert site["stations"] == 3 and site["n_train"] == 9 and site["n_test"] == 9
    right, wrong = site["right"], site["wrong"]
    assert right["acc_real"] == pytest.approx(1.0) and right["acc_gen"] >= 0.8 and right["ncc"] > 0.8
    assert wrong["acc_gen"] <= 0.2 and wrong["ncc"] < right["ncc"]
    assert right["acc_real"] == wrong["acc_real"]  # the same classifier and held-out data
    keys = list(res.metrics)
    assert keys.index("site") == keys.index("hvsr") + 1
    html = (tmp_path / "r" / "index.html").read_text()
    assert html.index('id="hvsr"') < html.index('id="site"') < html.index('id="run"')


def test_site_models_get_each_records_station_and_drop_unknown_ones():
    data = _data(per_station=2, extra_station=True)
    assert uses_station(ToySite()) and not uses_station(object())
    assert list(station_codes(data.metadata))[-1] == "Z9"
    kept, notes = select_records(data, {"m": ToySite()})
    assert len(kept) == 6 and "stations unknown to 'm'" in notes[0]
    with pytest.raises(ValueError, match="station 'Z9' is unknown"):
        select_records(data, {"m": ToySite()}, "error")


def test_no_site_model_no_section(tmp_path):
    class Plain(ToySite):
        variables = ()

        def reproduce(self, records, seeds):
            return records

    cfg = EvaluateConfig(realizations=1, scenarios=(), batch_size=8)
    res = evaluate(_data(per_station=3), {"plain": Plain()}, {}, None, cfg)
    assert "site" not in res.metrics
