"""quakesynth.models"""
