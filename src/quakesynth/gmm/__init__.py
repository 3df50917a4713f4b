"""quakesynth.gmm"""
