"""quakesynth.diffusion"""
