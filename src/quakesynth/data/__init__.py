"""quakesynth.data"""
