"""Valuation engine: exact LinFiK scoring and its ALinFiK proxy (plain torch, no Django)."""

from valuation.engine.data import Sample, SampleFileError, read_samples

__all__ = ["Sample", "SampleFileError", "read_samples"]
