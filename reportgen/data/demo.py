"""The demo corpus: generated movie-review sentences whose label depends on word order and scope.

Question it serves: does a model read structure, or only count words? Every sentence is built from
the word lists below by a fixed-seed generator (no network, same output on every machine), and its
label follows three rules that a bag of words cannot see:

- negation flips a clause: "the plot is not good" is negative, "i didn't hate it" is positive;
- intensifiers ("very", "incredibly", "so", "a lot", "so much") keep the polarity;
- in a concessive sentence the main clause decides: "i hate the movie though the plot is
  interesting" is negative, "the plot is dull , but i love the acting" is positive. The clause forms
  of main and subordinate clauses come from the same pool, so the same words appear in both classes.

Neutral filler ("i saw it last night .", "overall ,") is mixed in. Format: ``demo_dataset(n)`` gives
n unique sentences, balanced, classes ``negative``/``positive``, split 80/10/10 into
train/dev/test within each class. Cost: about 0.1 s for 6,000 sentences.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from reportgen.data.dataset import Dataset, Example

CLASSES = ["negative", "positive"]
DEMO_SEED = 20160601  # fixed: the corpus never depends on a run's --seed
SPLIT_SHARES = (0.8, 0.1, 0.1)  # train, dev, test

# -- word lists -----------------------------------------------------------------------------------
POSITIVE_ADJECTIVES = (
    "good", "great", "excellent", "wonderful", "brilliant", "fun", "charming", "moving",
    "beautiful", "funny", "clever", "nice", "enjoyable", "delightful", "superb", "gripping",
    "interesting", "touching", "fresh", "smart", "witty", "lovely",
)  # fmt: skip
NEGATIVE_ADJECTIVES = (
    "bad", "terrible", "awful", "boring", "dull", "weak", "painful", "bland", "silly", "clumsy",
    "tedious", "forgettable", "messy", "predictable", "lifeless", "annoying", "poor", "stupid",
    "flat", "lazy", "ugly", "slow",
)  # fmt: skip
POSITIVE_VERBS = ("like", "love", "enjoy", "adore", "admire", "appreciate")
NEGATIVE_VERBS = ("hate", "dislike", "despise", "loathe", "resent", "detest")
# (third person singular, base form)
POSITIVE_INTRANSITIVE = (
    ("works", "work"), ("shines", "shine"), ("delivers", "deliver"), ("succeeds", "succeed"),
    ("sparkles", "sparkle"), ("impresses", "impress"),
)  # fmt: skip
NEGATIVE_INTRANSITIVE = (
    ("fails", "fail"), ("drags", "drag"), ("disappoints", "disappoint"),
    ("falls flat", "fall flat"), ("falls apart", "fall apart"), ("misfires", "misfire"),
)  # fmt: skip
SINGULAR_NOUNS = (
    "movie", "film", "plot", "story", "script", "acting", "dialogue", "ending", "soundtrack",
    "music", "direction", "pacing", "cinematography", "humor", "lead actor", "villain",
    "screenplay", "premise", "sequel", "finale", "score", "editing", "cast",
)  # fmt: skip
PLURAL_NOUNS = (
    "characters", "performances", "jokes", "visuals", "effects", "action scenes", "songs",
    "costumes",
)  # fmt: skip
FILM_NOUNS = ("movie", "film", "story", "comedy", "thriller", "drama", "sequel")
SUBJECTS = ("i", "we", "my friends", "most viewers", "the critics", "my parents", "the kids")
ADJECTIVE_INTENSIFIERS = (
    "very", "really", "so", "incredibly", "extremely", "truly", "quite", "pretty",
)  # fmt: skip
VERB_INTENSIFIERS = ("a lot", "so much", "very much")
VERB_ADVERBS = ("really", "truly", "absolutely", "honestly")
DO_NOT = ("do not", "don't", "did not", "didn't")
MAIN_FIRST_CONNECTIVES = ("though", "although", "even though", "even if")
SUBORDINATE_FIRST_CONNECTIVES = ("although", "though", "even though", "while")
CONTRAST_CONNECTIVES = (", but", "but", ", yet", ". however ,", ". still ,")
PREFIXES = (
    "honestly ,", "overall ,", "in the end ,", "to be fair ,", "frankly ,", "all in all ,",
    "i saw it last night .", "we watched it on friday .", "i rented it last week .",
    "my sister picked it .", "it is about two hours long .", "it came out last year .",
)  # fmt: skip
SUFFIXES = (
    "at the cinema", "at home", "on the big screen", "on a rainy sunday", "with my family",
    ". i saw it with my brother", ". it runs two hours", ". we watched it on tuesday",
)  # fmt: skip


# -- clauses: each takes the polarity of its words and whether it is negated --------------------
Clause = Callable[[random.Random, int, bool], str]


def _adjective(rng: random.Random, lexical: int, intensify: float = 0.3) -> str:
    word = rng.choice(POSITIVE_ADJECTIVES if lexical > 0 else NEGATIVE_ADJECTIVES)
    if rng.random() < intensify:
        word = f"{rng.choice(ADJECTIVE_INTENSIFIERS)} {word}"
    return word


def _noun_phrase(rng: random.Random) -> tuple[str, bool]:
    """("the plot", plural?)"""
    if rng.random() < 0.25:
        return f"the {rng.choice(PLURAL_NOUNS)}", True
    determiner = rng.choice(("the", "the", "this"))
    return f"{determiner} {rng.choice(SINGULAR_NOUNS)}", False


def _object(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return "it"
    if roll < 0.45:
        return f"this {rng.choice(FILM_NOUNS)}"
    return _noun_phrase(rng)[0]


def _copula_clause(rng: random.Random, lexical: int, negated: bool) -> str:
    subject, plural = _noun_phrase(rng)
    be = rng.choice(("are", "were") if plural else ("is", "was"))
    if negated:
        be = rng.choice((f"{be} not", f"{be}n't", f"{be} never"))
    return f"{subject} {be} {_adjective(rng, lexical)}"


def _verb_clause(rng: random.Random, lexical: int, negated: bool) -> str:
    verb = rng.choice(POSITIVE_VERBS if lexical > 0 else NEGATIVE_VERBS)
    if rng.random() < 0.2:
        verb = f"{rng.choice(VERB_ADVERBS)} {verb}"
    if negated:
        verb = f"{rng.choice(DO_NOT)} {verb}"
    text = f"{rng.choice(SUBJECTS)} {verb} {_object(rng)}"
    if rng.random() < 0.3:
        text = f"{text} {rng.choice(VERB_INTENSIFIERS)}"
    return text


def _find_clause(rng: random.Random, lexical: int, negated: bool) -> str:
    verb = rng.choice(("did not find", "didn't find")) if negated else "found"
    return f"{rng.choice(SUBJECTS)} {verb} {_object(rng)} {_adjective(rng, lexical)}"


def _it_is_clause(rng: random.Random, lexical: int, negated: bool) -> str:
    subject = rng.choice(("it is", "this is", "it was", "that was"))
    if negated:
        subject = rng.choice((f"{subject} not", f"{subject}n't"))
    adjective = _adjective(rng, lexical, intensify=0.4)
    article = "an" if adjective[0] in "aeiou" else "a"
    return f"{subject} {article} {adjective} {rng.choice(FILM_NOUNS)}"


def _intransitive_clause(rng: random.Random, lexical: int, negated: bool) -> str:
    subject, plural = _noun_phrase(rng)
    third, base = rng.choice(POSITIVE_INTRANSITIVE if lexical > 0 else NEGATIVE_INTRANSITIVE)
    if negated:
        do = "do" if plural else "does"
        verb = rng.choice(
            (f"{do} not {base}", f"{do}n't {base}", f"never {base if plural else third}")
        )
    else:
        verb = base if plural else third
        if rng.random() < 0.2:
            verb = f"{rng.choice(VERB_ADVERBS)} {verb}"
    return f"{subject} {verb}"


CLAUSES: tuple[tuple[Clause, float], ...] = (
    (_copula_clause, 0.35),
    (_verb_clause, 0.3),
    (_find_clause, 0.1),
    (_it_is_clause, 0.12),
    (_intransitive_clause, 0.13),
)
NEGATION_RATE = 0.2
OPPOSITE_CONCESSION_RATE = 0.65  # how often the conceded clause has the other polarity


def clause(rng: random.Random, polarity: int) -> str:
    """A clause meaning ``polarity`` (+1/-1), negated (with words of the other polarity) or not."""
    negated = rng.random() < NEGATION_RATE
    forms, weights = zip(*CLAUSES, strict=True)
    form = rng.choices(forms, weights)[0]
    return form(rng, -polarity if negated else polarity, negated)


# -- sentences: a template places the main clause; the label is the main clause's polarity -----
def _simple(rng: random.Random, label: int) -> str:
    return clause(rng, label)


def _main_first(rng: random.Random, label: int) -> str:
    return f"{clause(rng, label)} {rng.choice(MAIN_FIRST_CONNECTIVES)} {_subordinate(rng, label)}"


def _subordinate_first(rng: random.Random, label: int) -> str:
    connective = rng.choice(SUBORDINATE_FIRST_CONNECTIVES)
    return f"{connective} {_subordinate(rng, label)} , {clause(rng, label)}"


def _contrast(rng: random.Random, label: int) -> str:
    return f"{_subordinate(rng, label)} {rng.choice(CONTRAST_CONNECTIVES)} {clause(rng, label)}"


def _coordination(rng: random.Random, label: int) -> str:
    return f"{clause(rng, label)} {rng.choice(('and', ', and', 'and also'))} {clause(rng, label)}"


def _subordinate(rng: random.Random, label: int) -> str:
    """The conceded clause: mostly of the opposite polarity, sometimes the same."""
    return clause(rng, -label if rng.random() < OPPOSITE_CONCESSION_RATE else label)


TEMPLATES: tuple[tuple[Callable[[random.Random, int], str], float], ...] = (
    (_simple, 0.45),
    (_main_first, 0.17),
    (_subordinate_first, 0.12),
    (_contrast, 0.18),
    (_coordination, 0.08),
)


def demo_sentence(rng: random.Random, label: int) -> str:
    """One sentence whose meaning is ``label`` (+1 positive, -1 negative), with optional filler."""
    templates, weights = zip(*TEMPLATES, strict=True)
    text = rng.choices(templates, weights)[0](rng, label)
    if rng.random() < 0.15:
        text = f"{rng.choice(PREFIXES)} {text}"
    if rng.random() < 0.15:
        text = f"{text} {rng.choice(SUFFIXES)}"
    if rng.random() < 0.5:
        text = f"{text} ."
    return text.replace(" . .", " .")


def demo_dataset(n: int = 6000) -> Dataset:
    """``n`` unique demo sentences (n // 2 per class), split 80/10/10 within each class."""
    if n < 20:
        raise ValueError("the demo corpus needs at least 20 sentences")
    rng = random.Random(DEMO_SEED)
    per_class = n // 2
    seen: set[str] = set()
    by_class: dict[str, list[str]] = {name: [] for name in CLASSES}
    while any(len(texts) < per_class for texts in by_class.values()):
        for label, name in ((-1, CLASSES[0]), (1, CLASSES[1])):
            text = demo_sentence(rng, label)
            if len(by_class[name]) < per_class and text not in seen:
                seen.add(text)
                by_class[name].append(text)
    splits: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    for name, texts in by_class.items():
        n_train = int(len(texts) * SPLIT_SHARES[0])
        n_dev = int(len(texts) * SPLIT_SHARES[1])
        cuts = {"train": texts[:n_train], "dev": texts[n_train : n_train + n_dev],
                "test": texts[n_train + n_dev :]}  # fmt: skip
        for split, part in cuts.items():
            splits[split] += [Example(t, name) for t in part]
    for examples in splits.values():
        rng.shuffle(examples)
    return Dataset(
        spec="demo",
        splits=splits,
        classes=list(CLASSES),
        description=f"demo corpus: {2 * per_class:,} generated movie-review sentences (negation, "
        "intensifiers, concessive clauses), balanced, 80/10/10 split",
    )
