"""Invertible representations of records.

- :mod:`quakesynth.repr.spectrogram`: the HighFEM log-magnitude STFT (``SpectrogramConfig``,
  ``LogSpectrogram``) and batched (fast) Griffin-Lim phase retrieval.
- :mod:`quakesynth.repr.envelope`: the moving-average envelope representation of the paper's
  ablation (``EnvelopeConfig``, ``MovingAverageEnvelope``).
"""
