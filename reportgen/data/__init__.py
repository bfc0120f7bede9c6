"""Data layer: datasets and their SPECs, tokenisers, vocabularies, encoders, the demo corpus."""

from reportgen.data.dataset import Dataset, Example
from reportgen.data.demo import demo_dataset
from reportgen.data.loaders import DATA_FORMATS, load_data, parse_spec

__all__ = [
    "DATA_FORMATS",
    "Dataset",
    "Example",
    "demo_dataset",
    "load_data",
    "parse_spec",
]
