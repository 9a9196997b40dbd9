"""Helpers that turn installable public text into the marketplace's demo corpora."""
