"""Physics-guided generation: MIFNO surrogate of 3-D wave simulations + diffusion refiner.

- :mod:`quakesynth.physics.data`: corpus arrays, normalisation, splits.
- training: ``quakesynth train surrogate | refiner | broadband`` (recipes in
  :mod:`quakesynth.train.recipes`, LightningModules in :mod:`quakesynth.train.modules`; model
  directories of :mod:`quakesynth.modeldir`).
- :mod:`quakesynth.physics.models`: loading trained surrogates and refiners (no Lightning).
- :mod:`quakesynth.physics.evaluate`: metrics before / after refinement, spatial coherence,
  timings.
- :mod:`quakesynth.physics.joint`: the joint refiner that keeps inter-sensor coherence
  (spatially correlated noise, calibrated on the truth's coherence).
- :mod:`quakesynth.physics.broadband`: broadband records from any low-frequency record (learned
  refiner, classic hybrid baseline, crossover filters); :mod:`quakesynth.physics.broadband_eval`
  judges them on real records.
- :mod:`quakesynth.physics.run`: deprecated alias of ``quakesynth train`` for these kinds.
"""
