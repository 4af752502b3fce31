"""Synthpedia: Cosmopedia-style synthetic pre-training data, end to end."""

__version__ = "0.1.0"
