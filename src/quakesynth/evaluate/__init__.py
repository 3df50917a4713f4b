"""quakesynth.evaluate"""
