"""quakesynth.repr"""
