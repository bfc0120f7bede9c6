"""Examples worth reading, and the shaded-text view of them: shared by every analysis page.

Question: which of thousands of evaluated texts should a reviewer look at? Not the first ones in
file order. ``pick_examples`` orders them on purpose, each with the reason it is shown:

1. the user's own: sentences and example ids named in the analysis's config;
2. disagreements: texts on which the models predict different classes (most models' confidence
   first);
3. each model's most confident errors (a wrong prediction the model was sure of);
4. then correct predictions, most confident first, so that the view is never only errors.

``token_rows`` turns per-token scores into ``TokenScores`` carrying everything the page marks:
unknown and special tokens, tokens cut off by the model's length limit, right or wrong.
Cost: pandas group-bys over the predictions table; no model.
"""

from __future__ import annotations

import pandas as pd

from reportgen.models.view import ModelView, NotApplicable
from reportgen.records import TokenBox, TokenScores

PREDICTION_COLUMNS = ["model", "example_id", "label", "predicted", "confidence"]
YOURS = "your example"


def pick_examples(
    predictions: pd.DataFrame, k: int, yours: list[int] | None = None,
    named: list[tuple[int, str]] | None = None,
) -> list[tuple[int, str]]:
    """Up to ``k`` (example_id, reason) pairs in the order above; ``predictions`` has
    ``PREDICTION_COLUMNS`` (label None/NaN for unlabelled texts). ``named``: (example_id,
    reason) pairs shown right after the user's own, with their own reason (Li et al.'s
    sentences)."""
    chosen: dict[int, str] = {}

    def take(ids: list[int], reason: str) -> None:
        for i in ids:
            if len(chosen) >= k:
                return
            chosen.setdefault(int(i), reason)

    take(list(yours or []), YOURS)
    for example_id, reason in named or []:
        take([example_id], reason)
    if predictions.empty:
        return list(chosen.items())
    frame = predictions.copy()
    frame["labelled"] = frame["label"].notna()
    frame["wrong"] = frame["labelled"] & (
        frame["label"].astype(str) != frame["predicted"].astype(str))
    models = list(dict.fromkeys(frame["model"]))
    if len(models) > 1:
        per = frame.groupby("example_id")
        split = per["predicted"].nunique()
        disagree = split[split > 1].index
        order = per["confidence"].mean().loc[disagree].sort_values(ascending=False, kind="stable")
        take(list(order.index[: max(1, k // 3)]), "the models disagree")
    for model in models:
        errors = frame[(frame["model"] == model) & frame["wrong"]]
        errors = errors.sort_values("confidence", ascending=False, kind="stable")
        take(list(errors["example_id"][: max(1, k // (2 * len(models)))]),
             f"most confident error of {model}")
    right = frame[frame["labelled"] & ~frame["wrong"]].groupby("example_id")["confidence"].mean()
    take(list(right.sort_values(ascending=False, kind="stable").index), "confidently right")
    take(list(frame["example_id"].drop_duplicates()), "prediction (no label)")
    return list(chosen.items())


def token_rows(
    tokens: pd.DataFrame,
    predictions: pd.DataFrame,
    picked: list[tuple[int, str]],
    score: str,
    normalise: bool = True,
    boxes: dict[tuple[str, int], list[TokenBox]] | None = None,
) -> list[TokenScores]:
    """One ``TokenScores`` per (picked example, model), in the picked order.

    ``tokens`` has model, example_id, position, token, ``score`` and flag columns; ``predictions``
    also ``truncated``. Scores are divided by the row's largest (``normalise``) among tokens not
    flagged "special". ``boxes``: runs of
    tokens to outline per (model, example_id), e.g. receptive fields."""
    outcome = predictions.set_index(["model", "example_id"])
    by_example = {eid: frame for eid, frame in tokens.groupby("example_id", sort=False)}
    rows = []
    for example_id, reason in picked:
        frame = by_example.get(example_id)
        if frame is None:
            continue
        for model, cells in frame.groupby("model", sort=False):
            # a model with no predictions (autoencoder)
            if (model, example_id) not in outcome.index:
                continue
            cells = cells.sort_values("position")
            values = cells[score].astype(float)
            # the row's peak among its words: a special token ([CLS]) is shown, never the scale
            words = values[cells["flag"].fillna("") != "special"] if "flag" in cells else values
            peak = (float((words if len(words) else values).max())
                    if normalise and len(values) else 1.0)
            facts = outcome.loc[(model, example_id)]
            label = facts["label"] if isinstance(facts["label"], str) else None
            rows.append(TokenScores(
                model=str(model),
                example_id=int(example_id),
                tokens=cells["token"].astype(str).tolist(),
                scores=(values / (peak or 1.0)).round(4).tolist(),
                label=label,
                predicted=str(facts["predicted"]),
                caption=reason,
                flags=cells["flag"].fillna("").astype(str).tolist() if "flag" in cells else [],
                truncated=int(facts.get("truncated", 0) or 0),
                correct=None if label is None else label == str(facts["predicted"]),
                boxes=list((boxes or {}).get((str(model), int(example_id)), [])),
            ))
    return rows


PAPER_SENTENCES = (
    "I hate the movie",
    "I hate the movie though the plot is interesting",
    "I hate the movie though the plot is boring",
)


def paper_sentences(model: ModelView) -> list[str]:
    """Li et al. (2016)'s three sentences, when the model's vocabulary holds every word."""
    try:
        enc = model.text_encoder()
    except NotApplicable:  # a model that reads its own word pieces
        enc = None
    if enc is not None and hasattr(enc, "known"):  # the model's own tokenizer
        return [s for s in PAPER_SENTENCES if enc.known(s)]
    if enc is None or enc.kind != "word" or enc.vocab is None:
        return list(PAPER_SENTENCES) if enc is not None else []
    return [s for s in PAPER_SENTENCES if all(t in enc.vocab for t in enc.tokens(s))]


def heatmap_example_ids(texts: list[str], example_ids: tuple[int, ...] | list[int],
                        count: int) -> list[int]:
    """The user's example ids, then the first examples of 4 to 14 words (readable heatmaps; the
    same for every model, so heatmaps compare models on one sentence; ``variance_salience`` shows
    the same ones when saliency did not run)."""
    lengths = [len(text.split()) for text in texts]
    readable = [i for i, n in enumerate(lengths) if 4 <= n <= 14] or list(range(len(texts)))
    return list(dict.fromkeys([*example_ids, *readable]))[: max(count, len(example_ids))]
