"""quakesynth.metrics"""
