"""Physics-guided generation: MIFNO surrogate of 3-D wave simulations + diffusion refiner.

- :mod:`quakesynth.physics.data`: corpus arrays, normalisation, splits.
- :mod:`quakesynth.physics.train`: Lightning modules and the training / saving / loading of
  the surrogate and the refiner (model directories of :mod:`quakesynth.models.checkpoint`).
- :mod:`quakesynth.physics.evaluate`: metrics before / after refinement, spatial coherence,
  timings.
"""
