"""Training of the HighFEM models with PyTorch Lightning.

- :mod:`quakesynth.train.run` -- :func:`~quakesynth.train.run.train` (what ``quakesynth train``
  calls): dataset -> run folder -> self-describing model directory; ``load_vae``.
- :mod:`quakesynth.train.config` -- ``TrainConfig``, ``LatentConfig``, the run configurations
  of each kind and :func:`~quakesynth.train.config.resolve_config` (presets + overrides).
- :mod:`quakesynth.train.modules` -- LightningModules ``VAEModule``, ``EDMModule``,
  ``ClassifierModule`` on the base :class:`~quakesynth.train.module.TrainModule` (Adam, cosine
  schedule, per-step seeding).
- :mod:`quakesynth.train.fit` -- the Trainer (EMA, periodic atomic checkpoints, CSV loss
  curves, DDP) and the resumable data module; :mod:`quakesynth.train.sampler` -- the
  deterministic data order; :mod:`quakesynth.train.callbacks` -- EMA and checkpoint I/O.

Nothing here is imported by ``import quakesynth``; Lightning is imported only when training.
"""
