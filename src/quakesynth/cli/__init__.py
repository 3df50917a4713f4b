"""Thin command modules: parse, build a config, call library functions."""
