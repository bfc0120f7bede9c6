"""Command line: ``reportgen run | train | render | list``.

A thin layer: options are parsed here and handed to ``reportgen.run.pipeline`` (run, render) or
``reportgen.models.train`` (train). Bad input surfaces as ``BadInput``: one message, exit code 2,
no traceback. Ctrl-C ends any command with one line saying what was (not) written and exit code
130, no traceback. Heavy imports (torch) happen inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reportgen import __version__
from reportgen.errors import BadInput

if TYPE_CHECKING:
    from reportgen.records import AnalysisRecord

DATA_HELP = (
    "Data SPEC: mr:DIR, agnews:DIR, sst2:FILE, csv:FILE, tsv:FILE, jsonl:FILE, txt:FILE, "
    "hf:NAME[:SPLIT] or demo; one file per split: PREFIX:train=FILE,dev=FILE,test=FILE "
    "(csv, tsv, jsonl, sst2, txt). See 'reportgen list'."
)


def data_options(fn):
    """The options that say how to read a dataset, shared by run and train."""
    fn = click.option("--label-col", default=None,
                      help="Label column of csv/tsv/jsonl/hf data (default: label).")(fn)
    fn = click.option("--text-col", default=None,
                      help="Text column of csv/tsv/jsonl/hf data (default: text).")(fn)
    return fn


INTERRUPTED = 130  # 128 + SIGINT: what a shell reports for Ctrl-C (1 is an internal error)
_INTERRUPT_LINE = "reportgen.interrupt_line"  # ctx.meta key: what to say on Ctrl-C


class _Group(click.Group):
    """The command group: Ctrl-C anywhere in a command is one line and exit code 130."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo(ctx.meta.get(_INTERRUPT_LINE, "interrupted"), err=True)
            ctx.exit(INTERRUPTED)


def _on_interrupt(line: str) -> None:
    """What the command says if Ctrl-C stops it from here on (ctx.meta is shared with the group)."""
    click.get_current_context().meta[_INTERRUPT_LINE] = line


def _unchanged(out: str) -> str:
    return f"interrupted; the previous report in {out} is unchanged"


@click.group(cls=_Group,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reportgen")
def main() -> None:
    """Interpretability reports for text models, as a static HTML site that opens offline.

    Start with 'reportgen run': with no options it analyses six small demo models (their weights
    ship with the package) on a generated corpus and writes the report to ./site.
    """


@main.command()
@click.option("--model", "models", multiple=True, metavar="SPEC",
              help="Model to analyse; repeat to compare models. A checkpoint from "
                   "'reportgen train', FILE.py:FUNC, package.module:FUNC, hf:DIR_OR_NAME or demo.")
@click.option("--data", default=None, metavar="SPEC", help=DATA_HELP)
@data_options
@click.option("--out", default=None, metavar="DIR", help="Output folder (default: site).")
@click.option("--config", "config_file", default=None, metavar="FILE.toml",
              help="TOML file with a [run] table and one table per analysis.")
@click.option("--only", default=None, metavar="NAMES",
              help="Comma-separated analyses to run (default: all).")
@click.option("--skip", default=None, metavar="NAMES",
              help="Comma-separated analyses to leave out.")
@click.option("--device", default=None, metavar="auto|cpu|cuda[:N]",
              help="Where to compute (default: auto).")
@click.option("--split", default=None, type=click.Choice(["auto", "train", "dev", "test", "all"]),
              help="Which split to evaluate (default auto: test, else dev, else all of the data; "
                   "a split the data does not have is an error).")
@click.option("--label-map", default=None, metavar="OLD=NEW,...",
              help="Rename the data's labels to the model's classes, e.g. 0=negative,1=positive.")
@click.option("--max-examples", type=int, default=None, metavar="N",
              help="Evaluate a seeded sample of N examples.")
@click.option("--detail-examples", type=int, default=None, metavar="N",
              help="Keep per-token tables, and run optimization, matching_rate and faithfulness, "
                   "on a seeded sample of N evaluated examples; metrics of the other analyses "
                   "still cover every example (default: 2000; 0: every example).")
@click.option("--batch-size", default=None, metavar="auto|N",
              help="Texts per batch. auto (default): the largest power of two that fits each model "
                   "in the free memory, at most 64 on CPU and 1024 on GPUs; N: N for every model.")
@click.option("--precision", default=None, metavar="auto|fp32|bf16|fp16",
              help="Precision of the analyses' computations (torch.autocast). auto (default): "
                   "bf16 on GPUs that support it and for Transformers models on a CPU with native "
                   "bf16 matrix products, else fp32.")
@click.option("--memory-budget", default=None, metavar="auto|none|SIZE",
              help="Resident memory the run may reach, e.g. 6GB. auto (default): what it holds "
                   "at the start plus 80% of the free memory. Past it the run stops with exit 2 "
                   "naming the setting to lower, before the system would kill it.")
@click.option("--seed", type=int, default=None, help="Random seed (default: 0).")
@click.option("--single-file", is_flag=True, default=None,
              help="Write the report as one self-contained HTML file, DIR/index.html.")
@click.option("--no-cache", is_flag=True, default=None,
              help="Recompute every analysis, the model cards and the table files "
                   "(the new results are still saved).")
@click.option("--cache-dir", default=None, metavar="DIR",
              help="Cache folder (default: $REPORTGEN_CACHE_DIR or the user cache directory).")
@click.option("--quiet", is_flag=True, default=None, help="No progress bars or summary.")
def run(config_file: str | None, only: str | None, skip: str | None, **options: object) -> None:
    """Analyse model(s) on data and write the report site.

    \b
    Examples:
      reportgen run                                   # the embedded demo, into ./site
      reportgen run --model kim.pt --data mr:data/mr  # your checkpoint on MR's test split
      reportgen run --model a.pt --model b.pt --data csv:reviews.csv --text-col review
    """
    from reportgen.config import load_config
    from reportgen.run.pipeline import build

    _on_interrupt(_unchanged(str(options.get("out") or "site")))
    options["only"] = _names(only)
    options["skip"] = _names(skip)
    options["label_map"] = _label_map(options.get("label_map"))  # type: ignore[arg-type]
    options["batch_size"] = _batch_size(options.get("batch_size"))  # type: ignore[arg-type]
    if isinstance(options.get("precision"), str):
        options["precision"] = str(options["precision"]).strip().lower()
    config = load_config(config_file, options)
    _on_interrupt(_unchanged(config.out))
    record = build(config)  # checks and locks --out before any compute
    if record is None:  # under torchrun, ranks 1.. compute their share; rank 0 writes the site
        return
    _on_interrupt(f"interrupted; the report in {config.out} was written")
    if not config.quiet:
        click.echo(_summary_line(record, config.out))
        _echo_kept(config.out)
    _exit_if_failed(record, config.out)


ANALYSIS_FAILED = 1  # exit code: the report was written, but an analysis in it failed


def _exit_if_failed(record: object, out: str) -> None:
    """One line per failed analysis on stderr (its traceback is in the report's logs/), then exit
    ``ANALYSIS_FAILED``: a CI job must not take a report with a failed analysis for a good one."""
    from reportgen.site.report_json import log_path

    failed = [a for a in record.analyses if a.status == "failed"]  # type: ignore[attr-defined]
    if not failed:
        return
    for a in failed:
        where = f"; traceback in {Path(out) / log_path(a.name)}" if a.log else ""
        click.echo(f"reportgen: {a.name} failed: {a.reason}{where}", err=True)
    click.echo(f"reportgen: the report in {out} was written, but {len(failed)} "
               f"analys{'is' if len(failed) == 1 else 'es'} failed", err=True)
    raise SystemExit(ANALYSIS_FAILED)


@main.command()
@click.argument("arch", metavar="ARCH")
@click.option("--data", required=True, metavar="SPEC", help=DATA_HELP)
@data_options
@click.option("--out", required=True, metavar="FILE",
              help="Checkpoint file to write (e.g. kim.pt).")
@click.option("--epochs", type=int, default=None,
              help="Maximum epochs (early stopping on the dev split).")
@click.option("--embeddings", default=None, metavar="FILE",
              help="Pretrained word vectors, word2vec/GloVe text format (.gz too).")
@click.option("--device", default="auto", metavar="auto|cpu|cuda[:N]", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress output (split sizes, bar or epoch lines).")
def train(arch: str, data: str, text_col: str | None, label_col: str | None, out: str,
          epochs: int | None, embeddings: str | None, device: str, seed: int, quiet: bool) -> None:
    """Train a reference architecture ARCH and save one checkpoint file.

    ARCH is one of the names 'reportgen list' shows (kim-cnn, yuan-cnn, rnn, lstm, bilstm,
    char-cnn, dilated-cnn, seq2seq-ae, byte-lstm-lm). The checkpoint holds the weights, config,
    vocabulary, classes and test accuracy, and loads without running code.
    """
    from reportgen.data.loaders import load_data
    from reportgen.models.architectures import ARCHITECTURES
    from reportgen.models.checkpoint import save_checkpoint
    from reportgen.models.train import train_model
    from reportgen.site.output_dir import preflight_file

    _on_interrupt("interrupted; no checkpoint written")
    if arch not in ARCHITECTURES:
        raise BadInput(f"unknown architecture {arch!r}", choices=ARCHITECTURES)
    if epochs is not None and epochs < 1:
        raise BadInput("--epochs must be at least 1")
    out_path = Path(out)
    preflight_file(out_path)  # before loading data or training: the model is not lost
    if embeddings is not None and not Path(embeddings).is_file():
        raise BadInput(f"embeddings file {embeddings!r} does not exist")
    dataset = load_data(data, text_col=text_col, label_col=label_col)
    # progress: a start line, then a bar on a terminal, else one line per epoch (train_model)
    ckpt = train_model(arch, dataset, epochs=epochs, embeddings=embeddings, device=device,
                       seed=seed, progress=not quiet, label_col=label_col)
    save_checkpoint(ckpt, out_path)
    _on_interrupt(f"interrupted; the checkpoint {out_path} was written")
    if not quiet:
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in ckpt.metrics.items())
        click.echo(f"{arch} -> {out_path}: {metrics}")


@main.command()
@click.option("--out", default="site", show_default=True, metavar="DIR",
              help="Site folder to rebuild.")
@click.option("--cache-dir", default=None, metavar="DIR", help="Cache folder of the run.")
@click.option("--single-file", is_flag=True,
              help="Write the report as one self-contained HTML file, DIR/index.html.")
def render(out: str, cache_dir: str | None, single_file: bool) -> None:
    """Rebuild the site from the cached results of the last run into DIR (no model needed)."""
    from reportgen.run.pipeline import render as render_site

    _on_interrupt(_unchanged(out))
    start = time.perf_counter()
    record = render_site(out, cache_dir, single_file=single_file)
    _on_interrupt(f"interrupted; the report in {out} was written")
    elapsed = time.perf_counter() - start  # its own time: record.total_seconds is the run's
    created = record.created  # type: ignore[attr-defined]
    index = Path(out) / "index.html"
    head = f"Report re-rendered in {elapsed:.1f} s from the run of {created}: {index}"
    click.echo(_summary_line(record, out, head=head))
    _echo_kept(out)


@main.command(name="list")
def list_() -> None:
    """List analyses, architectures, data formats and model formats, one line each."""
    from reportgen import analyses
    from reportgen.data.loaders import DATA_FORMATS, FILE_FORMATS, SPLIT_FILES_HELP
    from reportgen.models.architectures import ARCHITECTURES
    from reportgen.models.loading import MODEL_FORMATS

    def section(title: str, rows: dict[str, str]) -> None:
        click.echo(click.style(title, bold=True))
        width = max(len(k) for k in rows) + 2
        for key, line in rows.items():
            click.echo(f"  {key:<{width}}{line}")
        click.echo()

    section("Analyses", analyses.summaries())
    section("Architectures (reportgen train ARCH)",
            {n: c.summary for n, c in ARCHITECTURES.items()})
    section("Data formats (--data SPEC)", {
        **DATA_FORMATS,
        "PREFIX:train=...": f"{SPLIT_FILES_HELP} (PREFIX: {', '.join(FILE_FORMATS)})"})
    section("Model formats (--model SPEC)", MODEL_FORMATS)


def _label_map(value: str | None) -> dict[str, str] | None:
    """``"0=negative,1=positive"`` -> ``{"0": "negative", "1": "positive"}``."""
    if not value:
        return None
    pairs = {}
    for item in value.split(","):
        old, eq, new = item.partition("=")
        if not eq or not old.strip() or not new.strip():
            raise BadInput(f"--label-map: {item!r} is not OLD=NEW (e.g. 0=negative,1=positive)")
        pairs[old.strip()] = new.strip()
    return pairs


def _batch_size(value: str | None) -> int | str | None:
    """``"32"`` -> 32; anything else as given (the config names the valid choices)."""
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return value.strip().lower()


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in value.split(",") if n.strip()) if value else ()


def _echo_kept(out: str) -> None:
    """Name the files the user had added to the site folder, which the rebuild kept."""
    from reportgen.site.output_dir import describe_kept, user_files

    line = describe_kept(user_files(Path(out)))
    if line:
        click.echo(line[:1].upper() + line[1:] + ".")


SUMMARY_VALUES_WIDTH = 110  # characters of per-model values on a summary line; then "…"
SUMMARY_LABEL_WIDTH = 72  # characters of the headline's label on a summary line; then "…"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _analysis_summary(a: AnalysisRecord, models: list[str]) -> str:
    """``faithfulness: rnn 0.512, lstm 0.603 (comprehensiveness of integrated gradients)``: an ok
    analysis's headline per model with its label, as the index cards pick them (``headline_rows``:
    a value pooled over the models only when no model has its own; ``per_model_label``), then the
    models whose headline is not above its baseline ("; below random: lstm"). Values past
    ``SUMMARY_VALUES_WIDTH`` characters are cut with "…". Else the analysis's status."""
    from reportgen.site.metrics import headline_rows, per_model_label

    if a.status != "ok":
        return f"{a.name}: {a.status}"
    overall, per_model = headline_rows(a, models)
    if overall is not None:
        views, label = [overall], overall.label
        values = overall.value
    elif per_model:
        views, label = per_model, per_model_label(a, per_model)
        texts = [f"{v.model_label} {v.value}" for v in per_model]
        values = ", ".join(texts)
        if len(values) > SUMMARY_VALUES_WIDTH:
            kept: list[str] = []
            for text in texts:
                if len(", ".join([*kept, text, "…"])) > SUMMARY_VALUES_WIDTH:
                    break
                kept.append(text)
            values = ", ".join([*kept, "…"])
    else:
        return f"{a.name}: ok"
    line = f"{a.name}: {values}" + (f" ({_cut(label, SUMMARY_LABEL_WIDTH)})" if label else "")
    verdicts: dict[str, list[str]] = {}  # "below random" -> the models it holds for
    for v in views:
        if v.verdict and not v.verdict.startswith("above"):
            verdicts.setdefault(v.verdict, []).append(v.model_label)
    for verdict, names in verdicts.items():
        line += f"; {verdict}: " + _cut(", ".join(names), SUMMARY_VALUES_WIDTH)
    return line


def _summary_line(record: object, out: str, head: str | None = None) -> str:
    """Where the report is, then one line per analysis (``_analysis_summary``)."""
    from reportgen.records import RunRecord

    assert isinstance(record, RunRecord)
    models = [m.name for m in record.models]
    index = Path(out) / "index.html"
    head = head or f"Report written to {index} ({record.total_seconds:.1f} s)"
    return "\n".join([f"{head}.", *(f"  {_analysis_summary(a, models)}" for a in record.analyses)])


from reportgen.publish.command import publish as _publish
from reportgen.review.command import compare as _compare

main.add_command(_publish)
main.add_command(_compare)


if __name__ == "__main__":
    main()
