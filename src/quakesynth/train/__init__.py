"""quakesynth.train"""
