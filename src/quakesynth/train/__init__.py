"""Training of every quakesynth model kind with PyTorch Lightning: one entry, one loop.

- :mod:`quakesynth.train.run` -- :func:`~quakesynth.train.run.train` (what ``quakesynth train
  KIND`` calls): data -> run folder -> self-describing model directory, resumable; and
  :func:`~quakesynth.train.run.run_plan`, which fits a recipe's stages and exports the model.
- :mod:`quakesynth.train.recipes` -- the table ``RECIPES``: per kind (vae, edm, classifier,
  timesnet, site-cvae, surrogate, refiner, broadband) its data builder, module builder(s),
  default preset and export.
- :mod:`quakesynth.train.config` -- ``TrainConfig``, the run configuration of each kind and
  :func:`~quakesynth.train.config.resolve_config` (presets + ``--set`` overrides), for every kind.
- :mod:`quakesynth.train.modules` -- every LightningModule, on the base
  :class:`~quakesynth.train.modules.TrainModule` (Adam, cosine schedule, per-step seeding).
- :mod:`quakesynth.train.fit` -- the one fit function (Trainer with EMA, periodic atomic
  checkpoints, CSV loss curves, DDP) and the resumable data module;
  :mod:`quakesynth.train.batching` -- the deterministic batch order;
  :mod:`quakesynth.train.callbacks` -- EMA and checkpoint I/O; :mod:`quakesynth.train.data` --
  dataset-store splits as arrays.

Nothing here is imported by ``import quakesynth``; Lightning is imported only when training.
"""
