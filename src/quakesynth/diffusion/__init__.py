"""Diffusion pieces as small callables and pure functions (as NVlabs/edm).

- :mod:`quakesynth.diffusion.loss`: ``EDMLoss`` (log-normal noise levels, lambda(sigma) weighting,
  optional conditioning dropout).
- :mod:`quakesynth.diffusion.sampler`: ``karras_sigmas``, ``edm_sampler`` (deterministic and
  stochastic Heun in one function, classifier-free guidance), ``StackedRandomGenerator``.
"""
