"""The site's table files read back from the cache: the same bytes, and a new key for any change."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
import pytest

from reportgen.site import table_files as tf


def frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"example_id": np.arange(n), "word": [f"w{i % 17}" for i in range(n)],
                         "score": rng.normal(size=n), "kept": np.arange(n) % 3 == 0})


@pytest.mark.parametrize("n", [50, 120])  # a short table, and a long one (sample + gzipped full)
def test_cached_files_are_the_computed_bytes(n: int, tmp_path, monkeypatch) -> None:
    table = frame(n)
    fresh = tf.table_files(table, seed=3, limit=100)
    first = tf.cached_table_files(table, 3, 100, tmp_path)  # computed, then saved
    assert first == fresh

    def computed(*args, **kwargs):
        raise AssertionError("computed again although cached")

    monkeypatch.setattr(tf, "table_files", computed)
    again = tf.cached_table_files(table.copy(), 3, 100, tmp_path)  # equal content, another object
    assert again == fresh
    assert again.csv_rows == min(n, 100)
    if n > 100:
        full = pd.read_csv(io.BytesIO(gzip.decompress(again.full_gz)))
        assert len(full) == n and full["word"].tolist() == table["word"].tolist()


def test_any_change_gives_another_key() -> None:
    table = frame(30)
    key = tf.table_key(table, 0, 100)
    assert key == tf.table_key(table.copy(), 0, 100)
    changed = []
    for edit in ("word", "score", "neg_zero", "kept", "column"):
        other = table.copy()
        if edit == "word":
            other.loc[7, "word"] = "w7 "
        elif edit == "score":
            other.loc[7, "score"] = np.nextafter(other.loc[7, "score"], 10)  # one ulp
        elif edit == "neg_zero":
            table.loc[0, "score"], other.loc[0, "score"] = 0.0, -0.0  # CSV: "0" vs "-0"
            key = tf.table_key(table, 0, 100)
        elif edit == "kept":
            other.loc[7, "kept"] = not other.loc[7, "kept"]
        else:
            other = other.rename(columns={"kept": "shown"})
        changed.append(tf.table_key(other, 0, 100) != key)
    assert changed == [True] * 5
    assert tf.table_key(table, 1, 100) != tf.table_key(table, 0, 100)  # the sample's seed
    assert tf.table_key(table, 0, 20) != tf.table_key(table, 0, 100)  # the row limit


def test_a_table_of_lists_is_computed_every_time(tmp_path) -> None:
    table = pd.DataFrame({"tokens": [["a", "b"], ["c"]], "n": [2, 1]})
    assert tf.table_key(table, 0, 100) is None
    assert tf.cached_table_files(table, 0, 100, tmp_path) == tf.table_files(table, 0, 100)
    assert not (tmp_path / "tables").exists()


def test_values_that_print_differently_hash_apart() -> None:
    """1, 1.0 and True in an object column are written "1", "1.0" and "True": three keys."""
    keys = {tf.table_key(pd.DataFrame({"v": pd.Series([value, "x"], dtype=object)}), 0, 100)
            for value in (1, 1.0, True)}
    assert len(keys) == 3


@pytest.mark.parametrize("odd", ["none", "line break", "mixed objects", "numbers with gaps"])
def test_a_long_tables_sample_is_the_csv_its_rows_would_write(odd: str) -> None:
    """The sample cut from the full CSV's lines is byte for byte the CSV of the sampled rows; a
    cell with a line break, or a column of mixed objects, writes the sample on its own."""
    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame({"x": rng.normal(size=n) * 1e3, "k": np.arange(n),
                          "flag": rng.random(n) > 0.5,
                          "text": [f'w{i}, "q"' if i % 7 else "" for i in range(n)]})
    frame.loc[3, "x"] = np.nan
    if odd == "line break":
        frame.loc[10, "text"] = "two\nlines"
    if odd == "mixed objects":
        frame["m"] = pd.Series([1.5 if i % 2 else "a" for i in range(n)], dtype=object)
        frame.loc[tf.sample_rows(n, 3, 40), "m"] = 2.25  # the sample alone: all numbers
    if odd == "numbers with gaps":  # float in the whole (%.6g: 1.23457e+06), int in the sample
        frame["g"] = pd.Series([1234567] * n, dtype=object)
        frame.loc[next(i for i in range(n) if i not in set(tf.sample_rows(n, 3, 40))), "g"] = None
    got = tf.table_files(frame, seed=3, limit=40)
    rows = tf.sample_rows(n, 3, 40)
    assert got.csv == tf.to_csv_bytes(frame.iloc[rows])
    assert got.csv_rows == 40
    assert gzip.decompress(got.full_gz) == tf.to_csv_bytes(frame)
    assert (tf._lines_of(frame, tf.to_csv_bytes(frame), rows) is None) == (odd != "none")
