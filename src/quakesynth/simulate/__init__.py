"""quakesynth.simulate"""
