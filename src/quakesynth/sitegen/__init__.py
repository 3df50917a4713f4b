"""Site-specific generation: TimesNet-Gen (arXiv 2512.04694) and its conditional-VAE baseline.

Modules
-------
- :mod:`~quakesynth.sitegen.corpus` -- simulator networks of stations with known f0.
- :mod:`~quakesynth.sitegen.data` -- per-station record pools from station archives (mixed
  rates, lengths and components: resampled, aligned, padded, missing components masked),
  splits by record or event, peak normalisation. Archives are ingested with
  ``quakesynth ingest --purpose site`` (station identity only; no event metadata needed).
- training: ``quakesynth train timesnet`` (two phases) and ``quakesynth train site-cvae`` (the
  ``timesnet`` and ``site-cvae`` recipes of :mod:`quakesynth.train.recipes`);
  :mod:`~quakesynth.sitegen.export` -- their model directories.
- :mod:`~quakesynth.generate.timesnet`, :mod:`~quakesynth.generate.sitecvae` -- the generators
  (``generate(station="ST01", n=..., seed=...)``), k-sample latent averaging, zero-shot.
- :mod:`~quakesynth.sitegen.evaluate` -- HVSR/f0 alignment (clear peaks only), site states
  (f0 spread, two-state flag), station classifier and confusion-matrix NCC where defined,
  PGA and spectral-level bias, diversity; every figure computed whatever another one does.

Model architectures live in :mod:`quakesynth.models.timesnet` and :mod:`quakesynth.models.cvae`.
"""
