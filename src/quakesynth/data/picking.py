"""P-onset pickers behind one interface.

:class:`Picker` is what preprocessing calls: ``picker.pick(records, earliest=None)`` returns
the P-onset sample of each record (float, at ``records.fs``; NaN where there is none).

- :class:`STALTAPicker` (default): ObsPy's recursive STA/LTA
  (:func:`obspy.signal.trigger.recursive_sta_lta`) on the band-passed vertical component,
  the first trigger that leads to the record's strong motion, refined by an AIC picker
  (:func:`obspy.signal.trigger.aic_simple`).
- :class:`PhaseNetPicker`: SeisBench's PhaseNet where its weights exist on this machine; it
  never downloads them.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from quakesynth.records import Records


class Picker(abc.ABC):
    """Interface of a P picker."""

    #: short name written into each record's processing history
    name: str = "picker"

    def params(self) -> dict:
        """The picker's parameters (plain numbers/strings) for the processing history."""
        return {}

    @abc.abstractmethod
    def pick(self, records: Records, earliest: np.ndarray | None = None,
             trigger: np.ndarray | None = None) -> np.ndarray:
        """P-onset sample of each record.

        Parameters
        ----------
        records : (N, C, T) records at sampling rate ``records.fs``.
        earliest : optional (N,) sample before which no P can arrive (e.g. origin time plus
            the fastest travel time); NaN where unknown. A picker may ignore it.
        trigger : optional (N,) sample at which a triggered accelerograph started recording
            (its first real sample); NaN where the record is not triggered. P may come right
            after it, with little or no noise before.

        Returns
        -------
        p_sample : float array (N,), sample index from the record start; NaN where no onset.
        """


def _pick_trace(records: Records) -> np.ndarray:
    """The trace a P picker looks at: the vertical, else the norm of all components (N, T)."""
    if "Z" in records.components:
        return records.component("Z").astype(np.float64)
    return np.sqrt(np.sum(records.data.astype(np.float64) ** 2, axis=1))


@dataclass(frozen=True)
class STALTAPicker(Picker):
    """Recursive STA/LTA trigger refined by AIC.

    For each record, on the band-passed vertical component (or the norm of the components
    when there is no vertical), every STA/LTA trigger is refined by an AIC picker on
    ``[trigger - aic_before_s, trigger + aic_after_s]``. The pick is the first refined
    trigger that (a) is an onset: the largest amplitude within ``onset_window_s`` after it is
    at least ``min_onset_ratio`` times the largest within ``noise_window_s`` before it (so
    that STA/LTA flicker on digital noise or noise bursts is not taken for P); (b) leads to
    the strong motion: within ``amplitude_window_s`` after it the amplitude reaches
    ``min_amplitude_fraction`` of the record's peak (so that a small earlier event is not
    taken for the P of the main one); (c) is not before ``earliest`` (where given); (d) starts
    motion that lasts: the running peak (over ``onset_window_s``) stays above the pre-onset
    noise until the record's peak, so an earlier small event whose coda dies out first is
    skipped. If no trigger passes (c) and (d), the first that passes (a) and (b) is taken.

    Leading zeros (padding) are skipped. The LTA is warmed up on the first ``warmup_s`` of
    the record, mirrored and repeated, instead of starting from zero (otherwise the recursive
    LTA triggers falsely at the end of its warm-up).

    Triggered records (``trigger`` given): the recording starts at a trigger, often less than
    a second before P, so the warm-up uses only the first ``trigger_warmup_s`` (the pre-P
    noise that exists); where no trigger passes the tests, P is put at the trigger sample
    itself (the accelerograph triggered on the P wave).

    Parameters
    ----------
    sta_s, lta_s : short- and long-term windows, s.
    trigger_on, trigger_off : STA/LTA thresholds to open and close a trigger.
    band_hz : band-pass (causal Butterworth, order 4) applied before picking, Hz.
    min_onset_ratio, onset_window_s, noise_window_s : see (a).
    min_amplitude_fraction, amplitude_window_s : see (b).
    aic_before_s, aic_after_s : AIC refinement interval around the trigger, s.
    warmup_s : length of the record start used to warm up the LTA, s.
    """

    sta_s: float = 0.5  # s
    lta_s: float = 10.0  # s
    trigger_on: float = 4.0  # STA/LTA ratio
    trigger_off: float = 1.5  # STA/LTA ratio
    band_hz: tuple[float, float] = (1.0, 20.0)  # Hz
    min_onset_ratio: float = 2.5  # peak after / peak before the onset
    onset_window_s: float = 2.0  # s
    noise_window_s: float = 5.0  # s
    min_amplitude_fraction: float = 0.1  # of the record's peak amplitude
    amplitude_window_s: float = 60.0  # s
    aic_before_s: float = 2.0  # s
    aic_after_s: float = 1.0  # s
    warmup_s: float = 1.0  # s
    trigger_warmup_s: float = 0.1  # warm-up of triggered records, s

    name = "recursive_sta_lta+aic"

    def __post_init__(self) -> None:
        if not 0 < self.sta_s < self.lta_s:
            raise ValueError(f"need 0 < sta_s < lta_s; got sta_s={self.sta_s}, lta_s={self.lta_s}")
        if not 0 < self.trigger_off <= self.trigger_on:
            raise ValueError(f"need 0 < trigger_off <= trigger_on; got {self.trigger_off}, {self.trigger_on}")
        if not 0 < self.band_hz[0] < self.band_hz[1]:
            raise ValueError(f"band_hz must be (low, high) with 0 < low < high; got {self.band_hz}")

    def params(self) -> dict:
        return asdict(self)

    def _one(self, x: np.ndarray, fs: float, warmup_s: float | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """Band-passed trace and STA/LTA of one pick trace; both start at its first non-zero."""
        from obspy.signal.trigger import recursive_sta_lta
        from scipy.signal import sosfilt

        from quakesynth.signal import butterworth_sos

        nz = np.flatnonzero(x)
        i0 = int(nz[0]) if nz.size else x.size
        x = x[i0:]
        if x.size < 4:
            return np.zeros(x.size), np.zeros(x.size), i0
        nwarm = max(1, min(round((self.warmup_s if warmup_s is None else warmup_s) * fs), x.size))
        unit = np.concatenate([x[:nwarm][::-1], x[:nwarm]])  # continuous when tiled
        need = round(self.lta_s * fs) + round(2.0 * fs)  # LTA warm-up plus filter transient
        pad = np.tile(unit, -(-need // unit.size))
        hi = min(self.band_hz[1], 0.45 * fs)
        sos = butterworth_sos(4, [self.band_hz[0], hi], fs, "bandpass")
        y = sosfilt(sos, np.concatenate([pad, x]) - x[0])
        nsta, nlta = max(1, round(self.sta_s * fs)), max(2, round(self.lta_s * fs))
        cft = recursive_sta_lta(np.ascontiguousarray(y), nsta, nlta)
        return y[pad.size:], cft[pad.size:], i0

    def characteristic(self, records: Records) -> np.ndarray:
        """The STA/LTA characteristic function (N, T) of each record's pick trace."""
        x = _pick_trace(records)
        out = np.zeros_like(x)
        for i in range(len(x)):
            _, cft, i0 = self._one(x[i], records.fs)
            out[i, i0:] = cft
        return out

    def pick(self, records: Records, earliest: np.ndarray | None = None,
             trigger: np.ndarray | None = None) -> np.ndarray:
        from obspy.signal.trigger import aic_simple, trigger_onset
        from scipy.ndimage import maximum_filter1d

        fs = records.fs
        x = _pick_trace(records)
        n = len(records)
        earliest = np.full(n, np.nan) if earliest is None else np.asarray(earliest, dtype=np.float64)
        if earliest.shape != (n,):
            raise ValueError(f"earliest must have shape ({n},); got {earliest.shape}")
        trigger = np.full(n, np.nan) if trigger is None else np.asarray(trigger, dtype=np.float64)
        if trigger.shape != (n,):
            raise ValueError(f"trigger must have shape ({n},); got {trigger.shape}")
        win, won = round(self.amplitude_window_s * fs), max(1, round(self.onset_window_s * fs))
        wnoise = max(1, round(self.noise_window_s * fs))
        before, after = round(self.aic_before_s * fs), round(self.aic_after_s * fs)
        picks = np.full(n, np.nan)
        for i in range(n):
            trig = np.isfinite(trigger[i])
            y, cft, i0 = self._one(x[i], fs, self.trigger_warmup_s if trig else None)
            a_y = np.abs(y)
            peak = a_y.max() if a_y.size else 0.0
            if not np.isfinite(peak) or peak <= 0:
                continue
            env = maximum_filter1d(a_y, size=won)  # running peak over onset_window_s
            t_peak = int(np.argmax(a_y))
            fallback = np.nan
            for on, off in trigger_onset(cft, self.trigger_on, self.trigger_off):
                on, off = int(on), int(off)
                top = on + int(np.argmax(cft[on:off + 1]))  # strongest rise within the trigger
                a, b = max(on - before, 0), min(max(on + after, top), on + 5 * after, y.size)
                p = on if b - a < 4 else a + 1 + int(np.argmin(aic_simple(np.ascontiguousarray(y[a:b]))[1:-1]))
                pre = a_y[max(p - wnoise, 0):p]
                noise = pre.max() if pre.size else 0.0
                onset = a_y[p:p + won].max() >= self.min_onset_ratio * noise
                strong = a_y[p:p + win].max() >= self.min_amplitude_fraction * peak
                if not (onset and strong):
                    continue
                if np.isnan(fallback):
                    fallback = p  # if no onset passes the tests below
                late = not np.isfinite(earliest[i]) or p + i0 >= earliest[i]
                # (d) the motion does not fall back to the noise before the record's peak:
                # a small earlier event is over before the main one starts
                lasting = p >= t_peak or env[p:t_peak].min() > noise
                if late and lasting:
                    picks[i] = i0 + p
                    break
            else:
                if np.isfinite(fallback):
                    picks[i] = i0 + fallback
                elif trig:
                    picks[i] = max(float(trigger[i]), float(i0))
        return picks


class PhaseNetPicker(Picker):
    """SeisBench PhaseNet as a P picker, from weights already on this machine.

    Parameters
    ----------
    model : a pretrained weight name in SeisBench's local cache (``"stead"``, ``"instance"``,
        ...) or a path prefix written by ``model.save(path)`` (``path.json`` + ``path.pt``).
    threshold : P probability needed for a pick.
    device : torch device.

    Raises ``FileNotFoundError`` at the first pick when the weights are not local: quakesynth
    never downloads model weights.
    """

    name = "phasenet"

    def __init__(self, model: str = "stead", threshold: float = 0.3, device: str = "cpu") -> None:
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be in (0, 1); got {threshold}")
        self.model, self.threshold, self.device = str(model), float(threshold), device
        self._net = None

    def params(self) -> dict:
        return {"model": self.model, "threshold": self.threshold}

    def _load(self):
        if self._net is not None:
            return self._net
        import seisbench.models as sbm

        prefix = Path(self.model)
        for cand in (prefix, prefix.with_suffix("")):
            if cand.with_suffix(".json").exists() and cand.with_suffix(".pt").exists():
                self._net = sbm.PhaseNet.load(str(cand))
                break
        else:
            if prefix.suffix or len(prefix.parts) > 1:
                raise FileNotFoundError(f"PhaseNet weights {self.model!r}: no {self.model}.json/.pt here")
            versions = sbm.PhaseNet.list_versions(self.model, remote=False)
            if not versions:
                raise FileNotFoundError(
                    f"PhaseNet weights {self.model!r} are not in SeisBench's local cache "
                    f"({sbm.PhaseNet._model_path()}); quakesynth never downloads weights: fetch them "
                    "yourself (seisbench.models.PhaseNet.from_pretrained) or use the STA/LTA picker")
            from packaging import version

            self._net = sbm.PhaseNet.from_pretrained(self.model, version_str=max(versions, key=version.parse))
        self._net.to(self.device)
        self._net.eval()
        return self._net

    def pick(self, records: Records, earliest: np.ndarray | None = None,
             trigger: np.ndarray | None = None) -> np.ndarray:
        net = self._load()
        picks = np.full(len(records), np.nan)
        for i in range(len(records)):
            rec = records[i]
            comps = "".join(c for c in "ZNE" if c in rec.components)
            st = rec.select_components(comps).to_obspy()
            for tr in st:  # PhaseNet expects channel codes ending in Z/N/E
                tr.stats.channel = "HH" + tr.stats.channel[-1]
            out = net.classify(st, P_threshold=self.threshold)
            ps = [p for p in getattr(out, "picks", out) if getattr(p, "phase", "") == "P"]
            start = st[0].stats.starttime
            samples = [(float(p.peak_time - start) * rec.fs, float(p.peak_value)) for p in ps]
            if earliest is not None and np.isfinite(earliest[i]):
                samples = [s for s in samples if s[0] >= earliest[i]] or samples
            if samples:
                picks[i] = max(samples, key=lambda s: s[1])[0]
        return picks
