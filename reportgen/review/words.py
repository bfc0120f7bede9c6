"""Dataset-level saliency of words: which words' ranks moved most between the two runs.

Question: over the whole evaluated data, did the new model come to rely on other words?

Method: ``saliency``'s ``words`` table ranks each model's words by their mean share of a
sentence's saliency (words seen at least ``min_word_count`` times; rank 1 = the largest share,
ties by the word, as the analysis orders them). For the words ranked by both models, the rank
change is ``new rank - old rank`` (negative: the word rose); the ``SHOWN`` words with the largest
absolute change are listed and drawn as a bump chart (``charts.bump_chart``), together with the
words that are in the top ``TOP`` of one run only. Spearman's correlation of the two rankings over
the shared words summarises the whole list.

Outputs: ``WordMoves`` per model pair.

Cost: one sort and one join of two word tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reportgen.review import stats
from reportgen.review.metrics import ModelPair
from reportgen.review.reports import Report

SHOWN = 12  # words with the largest rank change
TOP = 10  # a word entering or leaving this many top words is listed


@dataclass
class WordMoves:
    pair: ModelPair
    shared: int  # words ranked by both runs
    rank_correlation: float | None
    moves: pd.DataFrame  # word, old_rank, new_rank, change, old_share, new_share
    entered: list[str] = field(default_factory=list)  # in the new top TOP, not the old one
    left: list[str] = field(default_factory=list)  # in the old top TOP, not the new one


def _ranked(report: Report, model: str) -> pd.DataFrame | None:
    table = report.table("saliency", "words")
    if table is None or not {"model", "word", "mean_share"} <= set(table.columns):
        return None
    rows = table[table["model"] == model].copy()
    if rows.empty:
        return None
    rows["word"] = rows["word"].astype(str)
    rows = rows.sort_values(["mean_share", "word"], ascending=[False, True], kind="stable")
    rows["rank"] = np.arange(1, len(rows) + 1)
    return rows[["word", "rank", "mean_share"]].drop_duplicates("word")


def word_moves(old: Report, new: Report, pair: ModelPair) -> WordMoves | None:
    o, n = _ranked(old, pair.old), _ranked(new, pair.new)
    if o is None or n is None:
        return None
    both = o.merge(n, on="word", suffixes=("_old", "_new"))
    both = both.rename(columns={"rank_old": "old_rank", "rank_new": "new_rank",
                                "mean_share_old": "old_share", "mean_share_new": "new_share"})
    both["change"] = both["new_rank"] - both["old_rank"]
    rho = stats.spearman(both["old_rank"].to_numpy(), both["new_rank"].to_numpy()) \
        if len(both) >= 2 else float("nan")
    moves = both.assign(size=both["change"].abs()).sort_values(
        ["size", "old_rank"], ascending=[False, True], kind="stable").head(SHOWN)
    moves = moves[moves["size"] > 0][["word", "old_rank", "new_rank", "change", "old_share",
                                      "new_share"]].reset_index(drop=True)
    top_old = list(o["word"].head(TOP))
    top_new = list(n["word"].head(TOP))
    return WordMoves(pair, len(both), None if np.isnan(rho) else float(rho), moves,
                     entered=[w for w in top_new if w not in top_old],
                     left=[w for w in top_old if w not in top_new])
