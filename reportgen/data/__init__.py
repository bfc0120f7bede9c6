"""Data layer: datasets and their SPECs, tokenisers, vocabularies, encoders, the demo corpus."""

from reportgen.data.dataset import Dataset, Example

__all__ = ["Dataset", "Example"]
