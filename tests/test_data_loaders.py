"""Data SPECs -> Dataset: every format on real and handcrafted files, and every bad-input case."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from reportgen.data import DATA_FORMATS, load_data, parse_spec
from reportgen.data.corpora import agnews_text, clean_agnews_field
from reportgen.errors import BadInput

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"shared dataset {path} is not present")
    return path


def labels(examples) -> Counter:
    return Counter(ex.label for ex in examples)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- SPEC parsing ----------------------------------------------------------------------------------
def test_formats_are_listed_one_line_each() -> None:
    assert set(DATA_FORMATS) == {"mr", "agnews", "sst2", "csv", "tsv", "jsonl", "txt", "hf", "demo"}
    for prefix, line in DATA_FORMATS.items():
        assert line.startswith(prefix) and "\n" not in line


def test_parse_spec_splits_prefix_from_path() -> None:
    assert parse_spec("csv:data/x.csv") == ("csv", "data/x.csv")
    assert parse_spec("hf:imdb:test") == ("hf", "imdb:test")
    assert parse_spec("demo") == ("demo", "")


def test_unknown_prefix_lists_valid_prefixes() -> None:
    with pytest.raises(BadInput) as err:
        load_data("parquet:x.parquet")
    message = err.value.format_message()
    assert "'parquet'" in message
    for prefix in DATA_FORMATS:
        assert prefix in message


def test_spec_without_prefix_suggests_one() -> None:
    with pytest.raises(BadInput, match="did you mean csv:reviews.csv"):
        load_data("reviews.csv")
    with pytest.raises(BadInput, match="no format prefix"):
        load_data("reviews")


def test_missing_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(BadInput, match="nope.csv does not exist"):
        load_data(f"csv:{missing}")
    with pytest.raises(BadInput, match="does not exist"):
        load_data(f"mr:{tmp_path / 'no-mr'}")
    with pytest.raises(BadInput, match="names no path"):
        load_data("csv:")


def test_file_where_directory_expected(tmp_path: Path) -> None:
    f = write(tmp_path / "x.csv", "text,label\na,b\n")
    with pytest.raises(BadInput, match="takes a directory"):
        load_data(f"agnews:{f}")
    with pytest.raises(BadInput, match="takes a file"):
        load_data(f"csv:{tmp_path}")


def test_column_options_only_for_column_formats() -> None:
    with pytest.raises(BadInput, match="--text-col does not apply to 'demo'"):
        load_data("demo", text_col="review")
    with pytest.raises(BadInput, match="--label-col does not apply to 'mr'"):
        load_data("mr:/anywhere", label_col="y")


# -- MR --------------------------------------------------------------------------------------------
def test_mr_real_split_sizes_and_balance() -> None:
    data = load_data(f"mr:{shared('mr')}")
    assert data.classes == ["negative", "positive"]
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 9596, "test": 1066}
    assert labels(data.splits["train"]) == {"negative": 4798, "positive": 4798}
    assert labels(data.splits["test"]) == {"negative": 533, "positive": 533}
    train = {ex.text for ex in data.splits["train"]}
    assert not train & {ex.text for ex in data.splits["test"]}


def test_mr_split_is_fixed_whatever_the_seed() -> None:
    root = shared("mr")
    a = load_data(f"mr:{root}", seed=0)
    b = load_data(f"mr:{root}", seed=123)
    assert a.splits == b.splits
    assert a.fingerprint() == b.fingerprint()


def test_mr_reads_latin1(tmp_path: Path) -> None:
    (tmp_path / "rt-polarity.pos").write_bytes(b"a caf\xe9 gem \n\nwonderful\x85 \n" + b"x\n" * 8)
    (tmp_path / "rt-polarity.neg").write_bytes(b"dull\n" * 10)
    data = load_data(f"mr:{tmp_path}")
    texts = {ex.text for ex in data.split("all") if ex.label == "positive"}
    assert {"a café gem", "wonderful…"} <= texts
    assert len(data) == 20 and len(data.splits["test"]) == 2  # 10% of each class, rounded down


def test_mr_missing_file(tmp_path: Path) -> None:
    (tmp_path / "rt-polarity.pos").write_bytes(b"good\n")
    with pytest.raises(BadInput, match="has no rt-polarity.neg"):
        load_data(f"mr:{tmp_path}")


def test_mr_empty_file(tmp_path: Path) -> None:
    (tmp_path / "rt-polarity.pos").write_bytes(b"good\n")
    (tmp_path / "rt-polarity.neg").write_bytes(b"\n \n")
    with pytest.raises(BadInput, match=r"rt-polarity.neg is empty"):
        load_data(f"mr:{tmp_path}")


# -- AG News ---------------------------------------------------------------------------------------
def test_agnews_real_test_split() -> None:
    data = load_data(f"agnews:{shared('ag_news')}")
    assert data.classes == ["World", "Sports", "Business", "Sci/Tech"]
    assert len(data.splits["test"]) == 7600
    assert labels(data.splits["test"]) == {c: 1900 for c in data.classes}
    assert len(data.splits["train"]) == 14685
    first = data.splits["test"][0]
    assert first.label == "Business" and first.text.startswith(
        "Fears for T N pension after talks. "
    )
    leftovers = [ex.text for ex in data.split("all") if "#39;" in ex.text or "\\" in ex.text]
    assert leftovers == []


def test_agnews_field_cleaning() -> None:
    assert clean_agnews_field("Sun #39;s chief") == "Sun's chief"
    assert clean_agnews_field("say  #39;disappointed #39;") == "say 'disappointed'"
    assert clean_agnews_field("Johnson  amp; Johnson") == "Johnson & Johnson"
    assert clean_agnews_field("a\\team for  #36;10") == "a team for $10"
    assert clean_agnews_field("he said  quot;no quot;") == 'he said "no"'
    assert clean_agnews_field("&lt;b&gt;x&lt;/b&gt; at M amp;amp;T") == "<b>x</b> at M&T"
    assert clean_agnews_field("#39;quoted") == "'quoted"
    assert agnews_text("Title", "Body.") == "Title. Body."
    assert agnews_text("Done!", "Body") == "Done! Body"
    assert agnews_text("", "Body only") == "Body only"


def test_agnews_handcrafted_csv(tmp_path: Path) -> None:
    write(
        tmp_path / "test.csv",
        '"2","Sun #39;s win","Johnson  amp; Johnson\\said  quot;yes quot;"\n'
        '"4","","&lt;b&gt;Chips&lt;/b&gt; ship"\n',
    )
    data = load_data(f"agnews:{tmp_path}")
    assert list(data.splits) == ["test"]
    assert data.classes == ["World", "Sports", "Business", "Sci/Tech"]  # no classes.txt
    first, second = data.splits["test"]
    assert first.text == 'Sun\'s win. Johnson & Johnson said "yes"' and first.label == "Sports"
    assert second.text == "<b>Chips</b> ship" and second.label == "Sci/Tech"


def test_agnews_classes_file(tmp_path: Path) -> None:
    write(tmp_path / "classes.txt", "Red\nBlue\n")
    write(tmp_path / "train.csv", '"2","t","d"\n"1","t2","d2"\n')
    data = load_data(f"agnews:{tmp_path}")
    assert data.classes == ["Red", "Blue"]
    assert [ex.label for ex in data.splits["train"]] == ["Blue", "Red"]


def test_agnews_bad_rows(tmp_path: Path) -> None:
    write(tmp_path / "test.csv", '"1","t","d"\n"9","t","d"\n')
    with pytest.raises(BadInput, match=r"test.csv, line 2: class '9' is not an index from 1 to 4"):
        load_data(f"agnews:{tmp_path}")
    write(tmp_path / "test.csv", '"1","t"\n')
    with pytest.raises(BadInput, match=r"line 1: 2 fields"):
        load_data(f"agnews:{tmp_path}")
    write(tmp_path / "test.csv", "\n")
    with pytest.raises(BadInput, match="test.csv has no examples"):
        load_data(f"agnews:{tmp_path}")


def test_agnews_directory_without_csv(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="neither train.csv nor test.csv"):
        load_data(f"agnews:{tmp_path}")


# -- SST-2 -----------------------------------------------------------------------------------------
def test_sst2_file_with_and_without_header(tmp_path: Path) -> None:
    f = write(tmp_path / "a.tsv", "sentence\tlabel\nit 's fine \t1\nawful\t0\n")
    data = load_data(f"sst2:{f}")
    assert data.classes == ["negative", "positive"]
    assert [(ex.text, ex.label) for ex in data.split("auto")] == [
        ("it 's fine", "positive"),
        ("awful", "negative"),
    ]
    assert data.evaluation_split() == "all"  # one file names no split: never called "test"
    for missing in ("test", "train", "dev"):
        with pytest.raises(BadInput, match=f"no '{missing}' split .*--split all"):
            data.split(missing)
    g = write(tmp_path / "b.tsv", "great\t1\n")
    assert load_data(f"sst2:{g}").split("all")[0].label == "positive"


def test_sst2_bad_labels(tmp_path: Path) -> None:
    f = write(tmp_path / "a.tsv", "sentence\tlabel\ngood\t1\nbad\t2\n")
    with pytest.raises(BadInput, match=r"a.tsv, line 3: label '2' is not 0 or 1"):
        load_data(f"sst2:{f}")
    write(f, "good\t1\nno label here\n")
    with pytest.raises(BadInput, match=r"line 2: expected 'sentence<TAB>label'"):
        load_data(f"sst2:{f}")
    write(f, "good\t\n")
    with pytest.raises(BadInput, match=r"line 1: missing label"):
        load_data(f"sst2:{f}")
    write(f, "")
    with pytest.raises(BadInput, match="a.tsv is empty"):
        load_data(f"sst2:{f}")


def test_sst2_glue_directory(tmp_path: Path) -> None:
    write(tmp_path / "train.tsv", "sentence\tlabel\ngood\t1\nbad\t0\n")
    write(tmp_path / "dev.tsv", "sentence\tlabel\nfine\t1\n")
    write(tmp_path / "test.tsv", "index\tsentence\n0\tunknown\n")
    data = load_data(f"sst2:{tmp_path}")
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 2, "dev": 1}


# -- CSV / TSV / JSONL -----------------------------------------------------------------------------
def test_csv_without_splits_is_one_split_and_test_is_never_a_fallback(tmp_path: Path) -> None:
    f = write(tmp_path / "r.csv", 'text,label\n"good, really",10\nbad,2\nok,2\n')
    data = load_data(f"csv:{f}")
    assert list(data.splits) == ["all"]
    assert data.classes == ["2", "10"]  # labels stay strings, ordered as numbers
    assert [ex.text for ex in data.split("auto")] == ["good, really", "bad", "ok"]
    with pytest.raises(BadInput, match="has no 'test' split"):
        data.split("test")
    assert data.spec == f"csv:{f}" and "\n" not in data.description


def test_csv_split_column(tmp_path: Path) -> None:
    f = write(tmp_path / "r.csv", "text,label,split\na,x,train\nb,y,validation\nc,x,TEST\n")
    data = load_data(f"csv:{f}")
    assert {k: [ex.text for ex in v] for k, v in data.splits.items()} == {
        "train": ["a"],
        "dev": ["b"],
        "test": ["c"],
    }
    write(f, "text,label,split\na,x,holdout\n")
    with pytest.raises(BadInput, match=r"line 2: unknown split 'holdout'.*train, dev, test"):
        load_data(f"csv:{f}")


def test_tsv_with_named_columns(tmp_path: Path) -> None:
    f = write(tmp_path / "r.tsv", "id\treview\tstars\n1\tloved it\t5\n2\tmeh\t3\n")
    data = load_data(f"tsv:{f}", text_col="review", label_col="stars")
    assert [(ex.text, ex.label) for ex in data.split("all")] == [("loved it", "5"), ("meh", "3")]


def test_csv_missing_column_lists_columns(tmp_path: Path) -> None:
    f = write(tmp_path / "r.csv", "review,stars\ngood,5\n")
    with pytest.raises(BadInput) as err:
        load_data(f"csv:{f}")
    message = err.value.format_message()
    assert "r.csv has no column 'text'" in message and "'review', 'stars'" in message
    with pytest.raises(BadInput, match="no column 'label'.*--label-col"):
        load_data(f"csv:{f}", text_col="review", label_col="label")  # named: must exist
    unlabelled = load_data(f"csv:{f}", text_col="review")  # not named: unlabelled text
    assert [(ex.text, ex.label) for ex in unlabelled.split("all")] == [("good", None)]
    assert not unlabelled.has_labels() and "no labels" in unlabelled.description


def test_one_file_per_split_and_plain_text(tmp_path: Path) -> None:
    train = write(tmp_path / "train.tsv", "sentence\tlabel\ngood\t1\nbad\t0\n")
    dev = write(tmp_path / "dev.tsv", "sentence\tlabel\nfine\t1\n")
    data = load_data(f"sst2:train={train},test={dev}")
    assert list(data.splits) == ["train", "test"] and data.evaluation_split() == "test"
    assert [ex.text for ex in data.split("auto")] == ["fine"]
    assert data.classes == ["negative", "positive"]
    with pytest.raises(BadInput, match="no 'dev' split .*it has train, test"):
        data.split("dev")
    with pytest.raises(BadInput, match="names the test split twice"):
        load_data(f"sst2:test={train},validation={dev},testing={dev}")
    with pytest.raises(BadInput, match="does not exist"):
        load_data(f"sst2:train={train},test={tmp_path / 'gone.tsv'}")
    both = write(tmp_path / "both.csv", "text,label,split\na,x,train\n")
    with pytest.raises(BadInput, match="has its own split column"):
        load_data(f"csv:train={both}")
    lines = write(tmp_path / "notes.txt", "first text\n\n  second one \n")
    text = load_data(f"txt:{lines}")
    assert ([(ex.text, ex.label) for ex in text.split("auto")]
            == [("first text", None), ("second one", None)])


def test_csv_empty_file_and_header_only(tmp_path: Path) -> None:
    f = write(tmp_path / "r.csv", "  \n")
    with pytest.raises(BadInput, match="r.csv is empty"):
        load_data(f"csv:{f}")
    write(f, "text,label\n")
    with pytest.raises(BadInput, match="r.csv has a header but no examples"):
        load_data(f"csv:{f}")


def test_csv_missing_labels(tmp_path: Path) -> None:
    f = write(tmp_path / "r.csv", "text,label\ngood,pos\nbad,\nmeh, \n")
    with pytest.raises(
        BadInput, match=r"2 rows have no value in label column 'label' \(first at line 3\)"
    ):
        load_data(f"csv:{f}")


def test_csv_empty_text_and_ragged_rows(tmp_path: Path) -> None:
    f = write(tmp_path / "r.csv", "text,label\n,pos\n")
    with pytest.raises(BadInput, match=r"line 2: empty or missing text in column 'text'"):
        load_data(f"csv:{f}")
    write(f, "text,label\ngood,pos,extra\n")
    with pytest.raises(BadInput, match=r"line 2: 3 fields where the header has 2"):
        load_data(f"csv:{f}")


def test_non_utf8_file_names_offset_and_encoding(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_bytes("text,label\nnaïve,pos\n".encode("latin-1"))
    with pytest.raises(BadInput) as err:
        load_data(f"csv:{f}")
    message = err.value.format_message()
    assert str(f) in message and "not valid UTF-8" in message
    assert "byte 0xef at offset 13" in message
    assert "latin-1" in message and "iconv" in message


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_bytes(b"\xef\xbb\xbftext,label\ncaf\xc3\xa9,pos\n")
    assert load_data(f"csv:{f}").split("all")[0].text == "café"


def test_jsonl(tmp_path: Path) -> None:
    rows = [
        {"text": "good", "label": 1, "split": "train"},
        {"text": "bad", "label": 0, "split": "test"},
    ]
    f = write(tmp_path / "r.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    data = load_data(f"jsonl:{f}")
    assert {k: [(e.text, e.label) for e in v] for k, v in data.splits.items()} == {
        "train": [("good", "1")],
        "test": [("bad", "0")],
    }


def test_jsonl_missing_split_value(tmp_path: Path) -> None:
    f = write(
        tmp_path / "r.jsonl",
        '{"text": "a", "label": 1, "split": "dev"}\n{"text": "b", "label": 0}\n',
    )
    with pytest.raises(BadInput, match=r"r.jsonl, line 2: no split value.*train, dev, test"):
        load_data(f"jsonl:{f}")


def test_jsonl_malformed_line(tmp_path: Path) -> None:
    f = write(tmp_path / "r.jsonl", '{"text": "a", "label": 1}\n\n{"text": "b", label: 0}\n')
    with pytest.raises(BadInput, match=r"r.jsonl, line 3: not valid JSON"):
        load_data(f"jsonl:{f}")
    write(f, '{"text": "a", "label": 1}\n["b", 0]\n')
    with pytest.raises(BadInput, match=r"line 2: expected a JSON object, found an array"):
        load_data(f"jsonl:{f}")


def test_jsonl_missing_label(tmp_path: Path) -> None:
    f = write(tmp_path / "r.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": null}\n')
    with pytest.raises(
        BadInput, match=r"1 rows have no value in label column 'label' \(first at line 2\)"
    ):
        load_data(f"jsonl:{f}")
    write(f, '{"body": "a", "label": 1}\n')
    with pytest.raises(BadInput, match=r"no column 'text'.*found: 'body', 'label'"):
        load_data(f"jsonl:{f}")


# -- Hugging Face ----------------------------------------------------------------------------------
@pytest.fixture
def saved_hf(tmp_path: Path) -> Path:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {
            "sentence": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["neg", "pos"]),
        }
    )

    def part(texts: list[str], labels: list[int]) -> object:
        return datasets.Dataset.from_dict({"sentence": texts, "label": labels}, features=features)

    dd = datasets.DatasetDict(
        {
            "train": part(["good", "bad", "fine"], [1, 0, 1]),
            "validation": part(["great"], [1]),
            "test": part(["unknown", "hidden"], [-1, -1]),
        }
    )
    path = tmp_path / "hfdata"
    dd.save_to_disk(str(path))
    return path


def test_hf_dataset_dict_from_disk(saved_hf: Path) -> None:
    data = load_data(f"hf:{saved_hf}")
    assert data.classes == ["neg", "pos"]
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 3, "dev": 1}
    assert [(e.text, e.label) for e in data.splits["train"]] == [
        ("good", "pos"),
        ("bad", "neg"),
        ("fine", "pos"),
    ]
    assert "skipped splits: test (no labels)" in data.description


def test_hf_one_split(saved_hf: Path) -> None:
    data = load_data(f"hf:{saved_hf}:validation")
    assert {k: len(v) for k, v in data.splits.items()} == {"dev": 1}
    with pytest.raises(BadInput, match="has no split 'dev'.*train, validation, test"):
        load_data(f"hf:{saved_hf}:dev")
    with pytest.raises(BadInput, match="2 examples have no label"):
        load_data(f"hf:{saved_hf}:test")


def test_hf_single_dataset_and_columns(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"review": ["a", "b"], "stars": [5, 1]})
    ds.save_to_disk(str(tmp_path / "one"))
    data = load_data(f"hf:{tmp_path / 'one'}", text_col="review", label_col="stars")
    assert list(data.splits) == ["train"] and data.classes == ["1", "5"]
    with pytest.raises(BadInput, match=r"no text column 'text' or 'sentence'.*'review', 'stars'"):
        load_data(f"hf:{tmp_path / 'one'}")
    with pytest.raises(BadInput, match=r"no label column 'label'"):
        load_data(f"hf:{tmp_path / 'one'}", text_col="review")


def test_hf_without_datasets_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(BadInput, match=r"pip install 'reportgen\[hf\]'"):
        load_data("hf:anything")


def test_an_unknown_prefix_is_named_and_the_suggestion_is_for_the_path_after_it() -> None:
    with pytest.raises(BadInput) as caught:
        parse_spec("foo:dev.tsv")
    assert "unknown data format 'foo'" in str(caught.value)
    assert "did you mean tsv:dev.tsv?" in str(caught.value)  # not tsv:foo:dev.tsv
    with pytest.raises(BadInput, match="PREFIX:train=FILE,dev=FILE,test=FILE"):
        parse_spec("foo:x")
    with pytest.raises(BadInput, match="did you mean csv:reviews.csv"):
        parse_spec("reviews.csv")
