"""The demo corpus: deterministic, balanced, unique, full of negation and concessive clauses, and
too hard for a bag of words."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from reportgen.data import demo as demo_module
from reportgen.data import demo_dataset, load_data
from reportgen.data.dataset import Dataset
from reportgen.data.tokenize import word_tokens

NEGATION = re.compile(r"\bnot\b|n't\b|\bnever\b")
CONCESSION = re.compile(r"\b(though|although|but|yet|however|while|even if)\b")


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return demo_dataset()


def test_deterministic_and_same_as_the_spec(demo: Dataset) -> None:
    again = demo_dataset()
    assert again.splits == demo.splits
    assert load_data("demo").fingerprint() == demo.fingerprint()
    assert demo.spec == "demo" and demo.classes == ["negative", "positive"]


def test_size_balance_and_splits(demo: Dataset) -> None:
    assert len(demo) == 6000
    sizes = {name: len(exs) for name, exs in demo.splits.items()}
    assert sizes == {"train": 4800, "dev": 600, "test": 600}
    for exs in demo.splits.values():
        counts = Counter(ex.label for ex in exs)
        assert counts["negative"] == counts["positive"]


def test_sentences_are_unique_and_short(demo: Dataset) -> None:
    texts = [ex.text for ex in demo.split("all")]
    assert len(set(texts)) == len(texts)
    lengths = [len(word_tokens(t)) for t in texts]
    assert min(lengths) >= 3 and max(lengths) <= 32
    assert 8 <= np.mean(lengths) <= 16


def test_smaller_corpus(demo: Dataset) -> None:
    small = demo_dataset(200)
    assert len(small) == 200 and len(small.splits["test"]) == 20


def test_phenomena_present_in_both_classes(demo: Dataset) -> None:
    for label in demo.classes:
        texts = [ex.text for ex in demo.split("all") if ex.label == label]
        negated = sum(bool(NEGATION.search(t)) for t in texts)
        concessive = sum(bool(CONCESSION.search(t)) for t in texts)
        intensified = sum(bool(re.search(r"\b(very|so|incredibly|a lot)\b", t)) for t in texts)
        assert negated >= 600 and concessive >= 1000 and intensified >= 500
    # polar words appear in both classes, so no single word decides
    for word in ("good", "bad", "love", "hate", "interesting", "boring"):
        classes = {ex.label for ex in demo.split("all") if word in word_tokens(ex.text)}
        assert classes == {"negative", "positive"}, word


def _alternatives(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


NOUN = f"(?:the|this) (?:{_alternatives(demo_module.SINGULAR_NOUNS + demo_module.PLURAL_NOUNS)})"
BE = "(?:is|was|are|were)"
NOT_BE = "(?:(?:is|was|are|were) (?:not|never)|(?:is|was|are|were)n't)"
INTENSIFIER = f"(?:(?:{_alternatives(demo_module.ADJECTIVE_INTENSIFIERS)}) )?"
ADJ = (
    INTENSIFIER
    + f"({_alternatives(demo_module.POSITIVE_ADJECTIVES + demo_module.NEGATIVE_ADJECTIVES)})"
)
# (pattern, whether the adjective's polarity is flipped); the label must follow the rule
RULES = {
    "plain": (re.compile(f"^{NOUN} {BE} {ADJ}(?: \\.)?$"), False),
    "negated": (re.compile(f"^{NOUN} {NOT_BE} {ADJ}(?: \\.)?$"), True),
    "main clause after but": (re.compile(f", but {NOUN} {BE} {ADJ}(?: \\.)?$"), False),
    "main clause before though": (re.compile(f"^{NOUN} {BE} {ADJ} (?:though|although) "), False),
    "negated main before though": (
        re.compile(f"^{NOUN} {NOT_BE} {ADJ} (?:though|although) "),
        True,
    ),
}


@pytest.mark.parametrize("rule", RULES)
def test_labels_follow_negation_and_main_clause(demo: Dataset, rule: str) -> None:
    pattern, flipped = RULES[rule]
    matched = 0
    for ex in demo.split("all"):
        m = pattern.search(ex.text)
        if m is None:
            continue
        positive = (m.group(1) in demo_module.POSITIVE_ADJECTIVES) != flipped
        assert ex.label == ("positive" if positive else "negative"), ex.text
        matched += 1
    assert matched >= 10


def test_bag_of_words_baseline_stays_low(demo: Dataset) -> None:
    vectorizer = CountVectorizer(tokenizer=word_tokens, lowercase=False, token_pattern=None)
    train, test = demo.splits["train"], demo.splits["test"]
    x_train = vectorizer.fit_transform([ex.text for ex in train])
    x_test = vectorizer.transform([ex.text for ex in test])
    y_train = [ex.label for ex in train]
    y_test = [ex.label for ex in test]
    best = max(
        LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train).score(x_test, y_test)
        for c in (0.1, 1.0, 10.0)
    )
    assert 0.55 < best < 0.85
