"""Data layer: datasets and their SPECs, tokenisers, vocabularies, encoders, the demo corpus."""

from reportgen.data.dataset import Dataset, Example
from reportgen.data.demo import PROBE_PHRASES, demo_dataset, demo_probe_phrases
from reportgen.data.loaders import DATA_FORMATS, load_data, parse_spec

__all__ = [
    "DATA_FORMATS",
    "PROBE_PHRASES",
    "Dataset",
    "Example",
    "demo_dataset",
    "demo_probe_phrases",
    "load_data",
    "parse_spec",
]
