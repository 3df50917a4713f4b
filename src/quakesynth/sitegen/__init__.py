"""Site-specific generation: TimesNet-Gen (arXiv 2512.04694) and its conditional-VAE baseline.

Modules
-------
- :mod:`~quakesynth.sitegen.corpus` -- simulator networks of stations with known f0.
- :mod:`~quakesynth.sitegen.data` -- per-station record pools, peak normalisation.
- :mod:`~quakesynth.sitegen.train` -- two-phase TimesNet-Gen training and the CVAE (Lightning).
- :mod:`~quakesynth.sitegen.generator` -- :class:`~quakesynth.generate.Generator` subclasses
  (``generate(station="ST01", n=..., seed=...)``), k-sample latent averaging, zero-shot.
- :mod:`~quakesynth.sitegen.evaluate` -- HVSR/f0 alignment, station classifier and
  confusion-matrix NCC, diversity, sampling ablation.

Model architectures live in :mod:`quakesynth.models.timesnet` and :mod:`quakesynth.models.cvae`.
"""
