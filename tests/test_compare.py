"""``reportgen compare``: the statistics by hand, the planted change end to end, its files.

Every expected number is worked out here, independently of the code: McNemar's p from binomial
coefficients, Spearman's rho from the rank differences, bootstrap intervals from the normal
approximation, and the planted model's flips and probabilities from its hand-set weights.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from reportgen.cli import main
from reportgen.errors import BadInput
from reportgen.review import markdown, stats
from reportgen.review.compare import compare, match_models
from reportgen.review.filters import jaccard_matrix, match_filters
from reportgen.review.metrics import ModelPair
from reportgen.review.neurons import unit_summary
from reportgen.review.reports import Report
from reportgen.review.rules import parse_rules
from reportgen.review.words import word_moves

ROOT = Path(__file__).resolve().parents[1]

# the planted change: one hand-set model, its decisive word swapped -------------------------------
# score s = sum over tokens of (x^2 - y^2) - 0.5 with 2-d embeddings; logits (-s, s).
# old: good = (sqrt 2, 0) -> +2; new: nice = (sqrt 2, 0) and good = (0.3, 0.3) -> 0.
# bad = (0, 1) -> -1; film, plot, the (and the other of good/nice) = (0.3, 0.3) -> 0; [UNK] = 0.
PLANTED = '''
import math
import torch
from torch import nn
import reportgen

ITOS = ["[PAD]", "[UNK]", "good", "nice", "bad", "film", "plot", "the"]


class Squares(nn.Module):
    def __init__(self, decisive):
        super().__init__()
        self.words = nn.Embedding(len(ITOS), 2, padding_idx=0)
        table = [[0.0, 0.0], [0.0, 0.0]] + [[0.3, 0.3]] * 6
        table[ITOS.index(decisive)] = [math.sqrt(2.0), 0.0]
        table[ITOS.index("bad")] = [0.0, 1.0]
        with torch.no_grad():
            self.words.weight.copy_(torch.tensor(table))

    def forward(self, ids):
        e = self.words(ids)                                                  # (B, T, 2)
        s = ((e[..., 0] ** 2 - e[..., 1] ** 2) * ids.ne(0)).sum(1) - 0.5     # (B,)
        return torch.stack([-s, s], -1)                                      # (B, 2)


def _user(decisive):
    tok = reportgen.Tokenizer(lambda t: t.lower().split(), vocab=ITOS)
    return reportgen.UserModel(Squares(decisive), tok, ["neg", "pos"], name="clf")


def build_old():
    return _user("good")


def build_new():
    return _user("nice")
'''
HOSTILE = "<script>alert(1)</script> good | @user #1 **bold**"
FILL = [("the", "plot"), ("film", "the"), ("plot", "film")]


def planted_rows() -> list[tuple[str, str]]:
    rows = [(HOSTILE, "pos")]  # a "good" text (old right, new wrong), example 0: always shown
    rows += [(f"{a} good {b}" if i % 2 else f"good {a} {b}", "pos")
             for i, (a, b) in enumerate(FILL * 6)][:16]
    rows += [("nice film the", "pos"), ("the nice plot", "pos")]
    rows += [(f"{a} bad {b}", "neg") for a, b in FILL * 4]
    rows += [(f"{a} {b} the", "neg") for a, b in FILL * 3] + [("film plot", "neg")]
    return rows


# 17 "good" texts (pos), 2 "nice" (pos), 12 "bad" (neg), 10 neutral (neg): 41 examples.
# old: right on 17 + 12 + 10 = 39, new: right on 2 + 12 + 10 = 24; b = 17, c = 2.
N, OLD_RIGHT, NEW_RIGHT, BROKEN, FIXED = 41, 39, 24, 17, 2
# McNemar: 2 * P(X <= 2), X ~ Binomial(19, 1/2) = 2 * (1 + 19 + 171) / 2**19
MCNEMAR_P = 2 * (1 + 19 + 171) / 2**19


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def run_report(root: Path, build: str, data: Path, out: str, cache: str) -> Path:
    result = CliRunner().invoke(main, [
        "run", "--model", f"{root / 'planted.py'}:{build}", "--data", f"csv:{data}",
        "--out", str(root / out), "--cache-dir", str(root / cache), "--quiet",
        "--only", "saliency,faithfulness"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root / out


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("planted")
    (root / "planted.py").write_text(PLANTED, encoding="utf-8")
    data = write_csv(root / "d.csv", planted_rows())
    other = write_csv(root / "other.csv", planted_rows()[:30])
    return {
        "root": root,
        "old": run_report(root, "build_old", data, "old", "c1"),
        "again": run_report(root, "build_old", data, "again", "c2"),  # recomputed, not cached
        "new": run_report(root, "build_new", data, "new", "c1"),
        "other": run_report(root, "build_old", other, "other", "c1"),
    }


def cli(*args: str):
    return CliRunner().invoke(main, ["compare", *args], catch_exceptions=False)


def cmp_json(out: Path) -> dict:
    return json.loads((out / "compare.json").read_text(encoding="utf-8"))


# statistics, by hand -----------------------------------------------------------------------------
def test_mcnemar_exact_by_hand() -> None:
    assert stats.mcnemar_exact(1, 9) == pytest.approx(2 * (1 + 10) / 2**10)  # 0.021484375
    assert stats.mcnemar_exact(0, 5) == pytest.approx(2 / 2**5)
    assert stats.mcnemar_exact(17, 2) == pytest.approx(MCNEMAR_P)
    assert stats.mcnemar_exact(4, 4) == 1.0 and stats.mcnemar_exact(0, 0) == 1.0


def test_spearman_of_known_permutations() -> None:
    # d = (1, 1, 1, 1, 0): rho = 1 - 6 * 4 / (5 * 24) = 0.8
    assert stats.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert stats.spearman([1, 2, 3, 4, 5], [50, 40, 30, 20, 10]) == pytest.approx(-1.0)
    # ties: ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4): 4.5 / sqrt(4.5 * 5)
    assert stats.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert stats.spearman([1, 1, 1], [2, 2, 2]) == 1.0  # both flat: nothing ordered differently
    assert stats.spearman([1, 1, 1], [1, 2, 3]) == 0.0  # one flat: no order in common
    assert math.isnan(stats.spearman([1], [1]))


def test_top_k_overlap_and_sign_agreement() -> None:
    a, b = [5, 4, 3, 2, 1, 0], [0, 4, 5, 3, 1, 2]  # top 3: {0, 1, 2} and {2, 1, 3}
    assert stats.top_k_overlap(a, b, 3) == pytest.approx(2 / 3)
    assert stats.top_k_overlap([3, 2, 1], [1, 2, 3], 3) == 0.5  # k = 2: {0, 1} and {2, 1}
    assert stats.top_k_overlap([3, 2, 1], [1, 2, 3], 1) == 0.0
    assert stats.sign_agreement([1, -1, 0], [2, 1, 0]) == pytest.approx(2 / 3)


def test_a_bootstrap_of_identical_runs_is_exactly_zero() -> None:
    values = np.random.default_rng(1).normal(size=300)
    assert stats.paired_interval(values, values) == (0.0, 0.0)
    assert stats.contains_zero(0.0, 0.0) and not stats.contains_zero(0.01, 0.2)


def test_a_bootstrap_interval_matches_the_normal_approximation() -> None:
    # paired differences: +1 on 240 examples, -1 on 160: mean 0.2, sd sqrt(1 - 0.2^2)
    old = np.zeros(400)
    new = np.r_[np.ones(240), -np.ones(160)]
    se = math.sqrt(1 - 0.04) / math.sqrt(400)
    lo, hi = stats.paired_interval(old, new)
    assert lo == pytest.approx(0.2 - 1.96 * se, abs=0.012)
    assert hi == pytest.approx(0.2 + 1.96 * se, abs=0.012)
    assert stats.paired_interval(old, new) == (lo, hi)  # a fixed seed


def test_a_ratio_metric_resamples_whole_texts() -> None:
    # two texts: 1 problem of value 1, 3 problems summing to 0 -> mean 1/4; the new run adds 1 to
    # the first text only. Resampling texts: the difference is 1/4 on every resample that draws
    # both texts equally, 1 or 0 on those that draw one text twice.
    num_old, den = np.array([[1.0], [0.0]]), np.array([[1.0], [3.0]])
    reps = stats.bootstrap_differences(num_old, den, num_old + np.array([[1.0], [0.0]]), den,
                                       samples=400)
    assert set(np.round(reps[:, 0], 6)) <= {0.25, 1.0, 0.0}


# rules -------------------------------------------------------------------------------------------
def test_rules_parse() -> None:
    rules = parse_rules("accuracy<-0.01, faithfulness.comprehensiveness <= -2% ,x.y@kim-cnn>0.5")
    assert [(r.name, r.op, r.threshold, r.model) for r in rules] == [
        ("accuracy", "<", -0.01, None), ("faithfulness.comprehensiveness", "<=", -0.02, None),
        ("x.y", ">", 0.5, "kim-cnn")]
    for bad in ("accuracy<<-1", "accuracy", "accuracy < fast", "<0.1"):
        with pytest.raises(BadInput, match=re.escape(repr(bad.strip()))):
            parse_rules(bad)


def test_rules_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[fail_on]\naccuracy = "< -0.01"\n"saliency.top_token_share" = ["< -0.1", '
                    '"> 0.1"]\n', encoding="utf-8")
    rules = parse_rules(str(path))
    assert [str(r) for r in rules] == ["accuracy < -0.01", "saliency.top_token_share < -0.1",
                                       "saliency.top_token_share > 0.1"]
    with pytest.raises(BadInput, match="no such|there is none"):
        parse_rules(str(tmp_path / "missing.toml"))
    (tmp_path / "empty.toml").write_text("[other]\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"\[fail_on\]"):
        parse_rules(str(tmp_path / "empty.toml"))
    (tmp_path / "num.toml").write_text("[fail_on]\naccuracy = -0.01\n", encoding="utf-8")
    with pytest.raises(BadInput, match="accuracy = -0.01"):
        parse_rules(str(tmp_path / "num.toml"))


# small parts on hand-made tables -----------------------------------------------------------------
def fake_report(tables: dict[tuple[str, str], pd.DataFrame], metrics: dict[str, dict],
                models: list[str], examples: int = 10) -> Report:
    raw = {"models": [{"name": m, "classes": ["neg", "pos"]} for m in models],
           "data": {"examples": examples, "fingerprint": "f"},
           "analyses": {a: {"status": "ok", "metrics": m} for a, m in metrics.items()}}
    report = Report(Path("/nonexistent"), raw, "0" * 64)
    report._tables.update(tables)
    return report


def test_models_are_matched_by_name() -> None:
    a, b = fake_report({}, {}, ["kim", "lstm"]), fake_report({}, {}, ["lstm", "yuan"])
    pairs, only_old, only_new, note = match_models(a, b, [])
    assert pairs == [ModelPair("lstm", "lstm")] and only_old == ["kim"] and only_new == ["yuan"]
    pairs, *_ = match_models(a, b, [("kim", "yuan")])
    assert pairs == [ModelPair("kim", "yuan"), ModelPair("lstm", "lstm")]
    one, other = fake_report({}, {}, ["kim"]), fake_report({}, {}, ["yuan"])
    pairs, only_old, only_new, note = match_models(one, other, [])
    assert pairs == [ModelPair("kim", "yuan")] and not only_old and "names differ" in note
    with pytest.raises(BadInput, match="NEW has no model 'bert'"):
        match_models(a, b, [("kim", "bert")])


def test_a_report_from_before_fingerprints_is_known_by_its_data_card() -> None:
    a, b = fake_report({}, {}, ["m"]), fake_report({}, {}, ["m"])
    for r in (a, b):
        r.raw["data"] = {"spec": "mr:data", "split": "test", "examples": 1066}
    assert a.fingerprint == b.fingerprint and a.fingerprint.startswith("card-")
    assert "predates" in a.fingerprint_source
    b.raw["data"]["examples"] = 500
    assert a.fingerprint != b.fingerprint


def test_filters_are_matched_by_the_jaccard_of_their_top_words() -> None:
    assert jaccard_matrix([frozenset("ab"), frozenset("abc")],
                          [frozenset("ab"), frozenset("bcd")]).tolist() == [[1.0, 1 / 4],
                                                                            [2 / 3, 2 / 4]]

    def top(rows):
        return pd.DataFrame([("m", "convs.0", f, r, w) for f, words in enumerate(rows)
                             for r, w in enumerate(words, 1)],
                            columns=["model", "layer", "filter", "rank", "word"])

    def info(patterns):
        return pd.DataFrame([("m", "convs.0", f, False, False, p, s)
                             for f, (p, s) in enumerate(patterns)],
                            columns=["model", "layer", "filter", "dead", "never_fired",
                                     "best_pattern", "pattern_strength"])

    old = fake_report({("filter_top_words", "top_words"): top([["good great", "great"],
                                                              ["bad", "awful bad"],
                                                              ["not never", "never"]]),
                       ("filter_top_words", "filters"): info([("class 'positive'", 0.5),
                                                              ("class 'negative'", 0.5),
                                                              ("contains a negation", 0.6)])},
                      {"filter_top_words": {}}, ["m"])
    new = fake_report({("filter_top_words", "top_words"): top([["bad awful", "terrible"],
                                                              ["great good"],
                                                              ["plot story"]]),
                       ("filter_top_words", "filters"): info([("class 'negative'", 0.5),
                                                              ("class 'positive'", 0.5),
                                                              ("a year", 0.1)])},
                      {"filter_top_words": {}}, ["m"])
    found = match_filters(old, new, ModelPair("m", "m"))
    pairs = {(r.old_filter, r.new_filter): r.jaccard for r in found.matched.itertuples()}
    assert pairs == {(0, 1): 1.0, (1, 0): pytest.approx(2 / 3)}  # {bad, awful} vs + terrible
    assert list(found.vanished["filter"]) == [2] and list(found.appeared["filter"]) == [2]
    assert found.vanished_patterns() == ["contains a negation"]  # "a year" is too weak to count
    assert found.new_patterns() == []


def test_hidden_location_scores_are_compared_bank_by_bank() -> None:
    """Kim's banks convs.0 and convs.1 both have a location 3: each is compared with the same
    bank of the other run, whatever the order of the rows (new lists convs.1 first); a bank one
    run alone scored is not comparable, and so is a table that names no layer."""
    from reportgen.review.attributions import SOURCES, agreements

    hidden = next(s for s in SOURCES if s.analysis == "hidden_saliency")
    columns = ["model", "example_id", "layer", "location", "score"]

    def rows(banks: dict[str, list[float]]) -> list[tuple]:
        return [("kim", eid, layer, i, v * (eid + 1)) for eid in (0, 1)
                for layer, values in banks.items() for i, v in enumerate(values)]

    up, down = [1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]
    old = pd.DataFrame(rows({"convs.0": up, "convs.1": down}), columns=columns)
    new = pd.DataFrame(rows({"convs.2": up, "convs.1": down, "convs.0": up}), columns=columns)
    a = fake_report({("hidden_saliency", "scores"): old}, {}, ["kim"])
    b = fake_report({("hidden_saliency", "scores"): new}, {}, ["kim"])
    found = agreements(a, b, hidden, ModelPair("kim", "kim"))
    assert [(x.layer, x.examples, x.reason) for x in found] == [
        ("convs.0", 2, ""), ("convs.1", 2, ""), ("convs.2", 0, "scored in the new run only")]
    for x in found[:2]:  # the same scores bank by bank: full agreement
        assert x.mean("spearman") == 1.0 and x.mean("top_k_overlap") == 1.0
        assert x.mean("sign_agreement") == 1.0 and x.read_differently == 0
        assert x.rows["positions"].tolist() == [4, 4]  # one bank's four locations, not eight
    assert found[1].title == "hidden location scores (convs.1)"
    flipped = pd.DataFrame(rows({"convs.0": up, "convs.1": up}), columns=columns)
    c = fake_report({("hidden_saliency", "scores"): flipped}, {}, ["kim"])
    first, second = agreements(a, c, hidden, ModelPair("kim", "kim"))
    assert first.mean("spearman") == 1.0 and second.mean("spearman") == -1.0
    unnamed = fake_report({("hidden_saliency", "scores"): old.drop(columns="layer")}, {}, ["kim"])
    (none,) = agreements(unnamed, b, hidden, ModelPair("kim", "kim"))
    assert none.examples == 0 and none.reason.startswith("no layer scored in both runs (old: an")
    assert "new: convs.2, convs.1, convs.0)" in none.reason


def test_word_ranks_and_units() -> None:
    def words(order):
        return pd.DataFrame({"model": "m", "word": order,
                             "mean_share": np.linspace(0.5, 0.1, len(order)), "count": 5})

    old = fake_report({("saliency", "words"): words(["good", "bad", "plot", "film"])},
                      {"saliency": {}}, ["m"])
    new = fake_report({("saliency", "words"): words(["bad", "plot", "film", "good"])},
                      {"saliency": {}}, ["m"])
    moves = word_moves(old, new, ModelPair("m", "m"))
    assert moves.moves.iloc[0][["word", "old_rank", "new_rank", "change"]].tolist() == \
        ["good", 1, 4, 3]
    # ranks (1,2,3,4) -> (4,1,2,3): d = (3,1,1,1), rho = 1 - 6 * 12 / 60 = -0.2
    assert moves.rank_correlation == pytest.approx(-0.2)

    sweep = pd.DataFrame({"model": "m", "value": [0.0, 0.0, 1.0, 1.0],
                          "class": ["neg", "pos"] * 2, "probability": [0.6, 0.4, 0.2, 0.8]})
    a = fake_report({("neuron_sweep", "sweep"): sweep},
                    {"neuron_sweep": {"m.top_unit": 7, "m.units": 48,
                                      "m.top_unit_zero_shot_accuracy": 0.8}}, ["m"])
    b = fake_report({("neuron_sweep", "sweep"): sweep},
                    {"neuron_sweep": {"m.top_unit": 9, "m.units": 48}}, ["m"])
    units = unit_summary(a, b, ModelPair("m", "m"))
    assert (units.old_unit, units.new_unit, units.same_unit, units.old_zero_shot) == \
        (7, 9, False, 0.8)
    assert list(units.sweep["run"]) == ["old"] * 4 + ["new"] * 4


# the acceptance: two runs of one model, and the planted change ----------------------------------
def test_two_runs_of_one_model_and_seed_are_no_change_exit_0(planted, tmp_path: Path) -> None:
    out = tmp_path / "review"
    result = cli(str(planted["old"]), str(planted["again"]), "--out", str(out),
                 "--fail-on", "accuracy<-0.01,faithfulness.comprehensiveness<-0.02")
    assert result.exit_code == 0, result.output
    data = cmp_json(out)
    assert data["format"] == "reportgen-compare" and data["version"] == 1 and data["same_data"]
    assert {m["verdict"] for m in data["metrics"]} == {"no change"}
    assert all(m["interval"] == [0.0, 0.0] for m in data["metrics"] if m["interval"])
    assert data["models"][0]["flips"] == 0 and data["fail_on"]["exit_code"] == 0
    intervals = {m["name"] for m in data["metrics"] if m["interval"]}
    assert {"accuracy", "saliency.top_token_share", "faithfulness.comprehensiveness"} <= intervals
    assert data["explanations"]["agreement"][0]["spearman"] == 1.0
    page = (out / "compare.md").read_text(encoding="utf-8")
    assert page.splitlines()[:2] == ["### reportgen compare", markdown.MARKER]
    assert "| clf | accuracy | 95.1% | 95.1% | no change |" in page  # 39 / 41


def test_the_planted_change_flips_moves_and_fails(planted, tmp_path: Path) -> None:
    out = tmp_path / "review"
    result = cli(str(planted["old"]), str(planted["new"]), "--out", str(out),
                 "--fail-on", "accuracy<-0.01")
    assert result.exit_code == 3, result.output
    assert "--fail-on 'accuracy<-0.01' failed for clf" in result.output
    data = cmp_json(out)
    model = data["models"][0]
    assert model["accuracy"]["old"] == pytest.approx(OLD_RIGHT / N)
    assert model["accuracy"]["new"] == pytest.approx(NEW_RIGHT / N)
    assert model["accuracy"]["p_value"] == pytest.approx(MCNEMAR_P)
    assert model["accuracy"]["verdict"] == "lower"
    assert model["flips"] == BROKEN + FIXED
    assert model["flips_by_kind"] == {"fixed": FIXED, "broken": BROKEN, "still wrong": 0,
                                      "changed": 0}
    assert model["flips_by_direction"] == {"pos → neg": BROKEN, "neg → pos": FIXED}
    # a "good" text: old s = 2 - 0.5 (p(pos) = sigmoid(3)); new s = -0.5 (p(neg) = sigmoid(1))
    first = model["flipped"][0]
    assert first["kind"] == "broken" and first["old_predicted"] == "pos"
    assert first["old_probability"]["of_old_prediction"] == pytest.approx(sigmoid(3), abs=1e-4)
    assert first["new_probability"]["of_new_prediction"] == pytest.approx(sigmoid(1), abs=1e-4)
    assert first["old_probability"]["of_new_prediction"] == pytest.approx(sigmoid(-3), abs=1e-4)
    # the attribution moved: on the "good" texts the new saliency is flat (rank correlation 0)
    agreement = data["explanations"]["agreement"][0]
    assert agreement["source"] == "saliency" and agreement["spearman"] < 0.7
    assert len(agreement["most_different"]) == 6
    moved = {w["word"]: w for w in data["explanations"]["words"][0]["moved"]}
    assert moved["good"]["old_rank"] == 1 and moved["good"]["new_rank"] > 1
    failed = data["fail_on"]["results"][0]
    assert failed["failed"] and failed["diff"] == pytest.approx((NEW_RIGHT - OLD_RIGHT) / N)
    md = (out / "compare.md").read_text(encoding="utf-8")
    assert "❌ 1 `--fail-on` rule failed" in md and "19 of 41 examples flipped" in md
    assert md.index("Headline deltas") < md.index("Predictions that flipped")


def test_a_rule_that_is_not_past_its_threshold_passes(planted, tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[fail_on]\naccuracy = "< -0.5"\n', encoding="utf-8")  # the drop is 0.366
    result = cli(str(planted["old"]), str(planted["new"]), "--out", str(tmp_path / "r"),
                 "--fail-on", str(rules), "--quiet")
    assert result.exit_code == 0, result.output
    assert cmp_json(tmp_path / "r")["fail_on"]["results"][0]["significant"] is True


@pytest.mark.parametrize("rule, said", [
    ("accuracy<<-1", "'accuracy<<-1' is not a rule"),
    ("accurcy<-0.01", "did you mean accuracy"),
    ("accuracy@bert<-0.01", "for model 'bert'"),
])
def test_a_bad_rule_is_exit_2_naming_it(planted, tmp_path: Path, rule: str, said: str) -> None:
    result = cli(str(planted["old"]), str(planted["new"]), "--out", str(tmp_path / "r"),
                 "--fail-on", rule)
    assert result.exit_code == 2 and said in result.output
    assert "Traceback" not in result.output and not (tmp_path / "r").exists()


def test_different_data_is_refused_with_both_fingerprints(planted, tmp_path: Path) -> None:
    old_fp = json.loads((planted["old"] / "report.json").read_text())["data"]["fingerprint"]
    other_fp = json.loads((planted["other"] / "report.json").read_text())["data"]["fingerprint"]
    assert old_fp != other_fp and re.fullmatch(r"[0-9a-f]{16}", old_fp)
    result = cli(str(planted["old"]), str(planted["other"]), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and old_fp in result.output and other_fp in result.output
    assert "--allow-different-data" in result.output and not (tmp_path / "r").exists()
    result = cli(str(planted["old"]), str(planted["other"]), "--out", str(tmp_path / "r"),
                 "--allow-different-data")
    assert result.exit_code == 0, result.output
    data = cmp_json(tmp_path / "r")
    assert data["compared"] == "aggregate metrics only (different data)"
    assert all(m["interval"] is None for m in data["metrics"])
    assert "only the aggregate metrics" in (tmp_path / "r" / "compare.html").read_text()


def test_out_is_guarded(planted, tmp_path: Path) -> None:
    result = cli(str(planted["old"]), str(planted["new"]), "--out", str(planted["new"]))
    assert result.exit_code == 2 and "would replace the report" in result.output
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    result = cli(str(planted["old"]), str(planted["new"]), "--out", str(mine))
    assert result.exit_code == 2 and (mine / "notes.txt").read_text() == "mine"
    out = tmp_path / "review"
    assert cli(str(planted["old"]), str(planted["again"]), "--out", str(out)).exit_code == 0
    (out / "keep.txt").write_text("kept")
    assert cli(str(planted["old"]), str(planted["new"]), "--out", str(out)).exit_code == 0
    assert (out / "keep.txt").read_text() == "kept" and cmp_json(out)["models"][0]["flips"] == 19


def test_a_report_without_predictions_still_compares(planted, tmp_path: Path) -> None:
    import shutil

    old = tmp_path / "old"
    shutil.copytree(planted["old"], old)
    report = json.loads((old / "report.json").read_text())
    report["predictions"] = None  # as a report from before they were stored
    (old / "report.json").write_text(json.dumps(report))
    result = cli(str(old), str(planted["new"]), "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    data = cmp_json(tmp_path / "r")
    assert data["models"][0]["flips"] == 0 and data["models"][0]["accuracy"]["p_value"] is None
    assert any("no per-example predictions" in n for n in data["notes"])


def test_data_text_is_escaped_in_markdown_and_html(planted, tmp_path: Path) -> None:
    out = tmp_path / "r"
    cli(str(planted["old"]), str(planted["new"]), "--out", str(out))
    flipped = [f for f in cmp_json(out)["models"][0]["flipped"] if f["text"] == HOSTILE]
    assert flipped, "the hostile text flips with the other 'good' texts"
    md = (out / "compare.md").read_text(encoding="utf-8")
    html = (out / "compare.html").read_text(encoding="utf-8")
    assert "<script>alert" not in md and "<script>alert" not in html
    assert r"&lt;script&gt;alert(1)&lt;/script&gt; good \| &#64;user &#35;1 \*\*bold\*\*" in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt; good | @user #1 **bold**" in html


def test_the_comment_is_cut_under_the_limit(planted, monkeypatch) -> None:
    comparison = compare(planted["old"], planted["new"])
    full = markdown.compare_markdown(comparison)
    monkeypatch.setattr(markdown, "LIMIT", 2_500)
    cut = markdown.compare_markdown(comparison)
    assert len(full) > 2_500 >= len(cut) and "Truncated to stay under GitHub's" in cut
    assert markdown.MARKER in cut and "Headline deltas" in cut and "Truncated" not in full


def test_compare_json_is_documented(planted, tmp_path: Path) -> None:
    cli(str(planted["old"]), str(planted["new"]), "--out", str(tmp_path / "r"))
    doc = (ROOT / "docs" / "compare.md").read_text(encoding="utf-8")
    data = cmp_json(tmp_path / "r")
    for key in (list(data) + list(data["models"][0]) + list(data["metrics"][0])
                + list(data["explanations"]["agreement"][0]) + list(data["old"])):
        assert f'"{key}"' in doc, key
    assert "Review a model change" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_a_conv_model_compared_with_itself(tmp_path: Path) -> None:
    """Every analysis that runs on a CNN: each per-example reader reproduces its metric (so it
    gets an interval), filters match one to one, the best unit is the same."""
    from tests.tiny_models import random_yuan_checkpoint

    ckpt = random_yuan_checkpoint(tmp_path / "yuan.pt")
    config = tmp_path / "run.toml"
    config.write_text("[neuron_sweep]\nmax_train = 200\nseeds = 1\nsweep_texts = 16\n"
                      "[optimization]\nsteps = 30\n", encoding="utf-8")
    for out in ("a", "b"):
        result = CliRunner().invoke(main, [
            "run", "--model", str(ckpt), "--data", "demo", "--max-examples", "40", "--out",
            str(tmp_path / out), "--cache-dir", str(tmp_path / "cache"), "--config", str(config),
            "--quiet", "--skip", "representations"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    result = cli(str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    data = cmp_json(tmp_path / "r")
    assert {m["verdict"] for m in data["metrics"]} == {"no change"}
    assert not [m["name"] for m in data["metrics"] if "do not reproduce" in m["method"]]
    with_interval = {m["name"] for m in data["metrics"] if m["interval"]}
    assert {"variance_salience.top_token_share", "hidden_saliency.top_location_share",
            "optimization.mean_activation_cosine", "matching_rate.matching_rate",
            "faithfulness.integrated_gradients_comprehensiveness"} <= with_interval
    explained = data["explanations"]
    assert [a["source"] for a in explained["agreement"]] == ["saliency", "hidden_saliency"]
    assert explained["agreement"][1]["sign_agreement"] == 1.0
    filters = explained["filters"][0]
    assert filters["matched"] == filters["old_filters"] and filters["mean_jaccard"] == 1.0
    assert explained["units"][0]["same_unit"] is True


# the page in a real browser ---------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.slow
def test_compare_html_offline_in_chromium(planted, tmp_path: Path) -> None:
    out = tmp_path / "r"
    cli(str(planted["old"]), str(planted["new"]), "--out", str(out))
    from tests.test_site_browser import CHROMIUM, LAUNCH_ARGS, visit  # skips without Chromium

    with pytest.importorskip("playwright.sync_api").sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            seen = visit(browser, out / "compare.html")
        finally:
            browser.close()
    assert seen.problems == [] and seen.dialogs == []
    assert seen.charts == 3 and seen.drawn["svg"] >= 3  # flips, agreement, the bump chart
    assert HOSTILE in seen.text and "19 of 41 examples" in seen.text
    assert "no change" in seen.text and "lower" in seen.text


def test_the_site_writes_every_prediction_or_past_a_limit_the_detail_sample(tmp_path: Path,
                                                                              monkeypatch) -> None:
    import dataclasses

    from reportgen.analyses.sampling import detail_sample
    from reportgen.site import builder
    from tests.site_fixtures import make_record

    record = make_record()
    n = record.data.examples  # 80
    frame = pd.DataFrame({"example_id": np.arange(n), "label": "neg", "predicted": "pos",
                          "p0": 1 / 3, "p1": 2 / 3})
    models = [dataclasses.replace(m, predictions=frame) for m in record.models]
    record = dataclasses.replace(record, models=models,
                                 data=dataclasses.replace(record.data, detail_examples=30))
    builder.build_site(record, tmp_path / "all")
    written = pd.read_csv(tmp_path / "all" / "data" / "predictions.csv.gz")
    assert len(written) == n * len(models) and written["p1"].iloc[0] == 0.6667  # 4 decimals
    listed = json.loads((tmp_path / "all" / "report.json").read_text())["predictions"]
    assert listed["examples"] == n and listed["csv"] == "data/predictions.csv.gz"
    monkeypatch.setattr(builder, "PREDICTIONS_MAX_ROWS", n)
    builder.build_site(record, tmp_path / "sample")
    written = pd.read_csv(tmp_path / "sample" / "data" / "predictions.csv.gz")
    assert sorted(set(written["example_id"])) == list(detail_sample(n, 30, record.seed))
