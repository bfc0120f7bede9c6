"""The ``reportgen compare`` command (registered in ``reportgen.cli`` with ``add_command``).

Reads two report folders (no model, no GPU) and writes ``DIR/compare.html``, ``compare.json``
and ``compare.md`` (with ``assets/``), replaced as a whole like a report (``.reportgen-manifest
.json``; a folder reportgen did not write is refused; files you add are kept).

Exit codes: 0 written, no ``--fail-on`` rule failed; 2 bad input (one message, nothing written:
a folder that is no report, reports on different data without ``--allow-different-data``, a
malformed rule); 3 (``rules.REGRESSION``) written, and a ``--fail-on`` rule found a significant
regression; 1 an internal error; 130 interrupted.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from reportgen.errors import BadInput

INTERRUPTED = 130

HELP = """Compare two reports, OLD_DIR and NEW_DIR (folders 'reportgen run' wrote): a model review.

Models are matched by name. For every metric of every analysis: old, new, the difference and a
paired bootstrap 95% interval over the shared examples (accuracy: McNemar's exact test); a
difference inside its interval reads "no change". Also the predictions that flipped, the
agreement of token attributions, the words whose saliency rank moved, matched conv filters and
the best sweep units. Writes DIR/compare.html, DIR/compare.json and DIR/compare.md (a
pull-request comment).

\b
Exit codes: 0 written; 2 bad input (reports on different data unless --allow-different-data,
a malformed rule); 3 written, and a --fail-on rule failed (a significant regression).

\b
Examples:
  reportgen compare old-site new-site --out review
  reportgen compare old-site new-site --out review --fail-on "accuracy<-0.01"
  reportgen compare old-site new-site --out review --fail-on rules.toml
"""


@click.command(name="compare", help=HELP)
@click.argument("old_dir", metavar="OLD_DIR")
@click.argument("new_dir", metavar="NEW_DIR")
@click.option("--out", required=True, metavar="DIR", help="Folder to write the comparison to.")
@click.option("--fail-on", "fail_on", default=None, metavar="RULES",
              help='Exit 3 on a significant regression past a threshold: "accuracy<-0.01,'
                   'faithfulness.comprehensiveness<-0.02" (NAME@MODEL for one model), or a TOML '
                   "file with a [fail_on] table.")
@click.option("--allow-different-data", is_flag=True,
              help="Compare reports on different data too: aggregate metrics only, no intervals.")
@click.option("--pair", "pairs", multiple=True, metavar="OLD=NEW",
              help="Compare model OLD of OLD_DIR with model NEW of NEW_DIR (names differ).")
@click.option("--quiet", is_flag=True, help="No summary line.")
def compare(old_dir: str, new_dir: str, out: str, fail_on: str | None,
            allow_different_data: bool, pairs: tuple[str, ...], quiet: bool) -> None:
    from reportgen.review.compare import compare as run_compare
    from reportgen.review.rules import REGRESSION, parse_rules

    ctx = click.get_current_context()
    try:
        started = time.perf_counter()
        rules = parse_rules(fail_on)  # before reading anything: a bad rule is exit 2 at once
        explicit = [_pair(p) for p in pairs]
        out_path = Path(out)
        _check_out(out_path, old_dir, new_dir)
        comparison = run_compare(old_dir, new_dir, rules=rules,
                                 allow_different_data=allow_different_data, pairs=explicit)
        write_outputs(comparison, out_path)
        seconds = time.perf_counter() - started
    except KeyboardInterrupt:
        click.echo(f"interrupted; {out} is unchanged", err=True)
        ctx.exit(INTERRUPTED)
    if not quiet:
        click.echo(summary_line(comparison, out_path, seconds))
    if comparison.failed:
        for r in comparison.failed:
            click.echo(f"reportgen compare: --fail-on {r.rule.text!r} failed for {r.model}: "
                       f"{r.detail}", err=True)
        raise SystemExit(REGRESSION)


def _pair(value: str) -> tuple[str, str]:
    old, eq, new = value.partition("=")
    if not eq or not old.strip() or not new.strip():
        raise BadInput(f"--pair {value!r} is not OLD=NEW (a model name of each report)")
    return old.strip(), new.strip()


def _check_out(out: Path, *reports: str) -> None:
    """``--out`` must not be, or hold, one of the reports it compares."""
    target = out.absolute().resolve()
    for r in reports:
        source = Path(r).absolute().resolve()
        if target == source or source.is_relative_to(target):
            raise BadInput(f"--out {str(out)!r} would replace the report {r!r}; write the "
                           "comparison to another folder")


def write_outputs(comparison, out: Path) -> None:
    """Write the three files and the assets into ``out``, staged and swapped in as a whole."""
    from reportgen.atomic import staged_directory
    from reportgen.review.compare_json import compare_json
    from reportgen.review.markdown import compare_markdown
    from reportgen.review.page import render_page
    from reportgen.site.builder import _vega_bundle
    from reportgen.site.manifest import write_manifest
    from reportgen.site.output_dir import carry_user_files, guarded
    from reportgen.site.report_json import dumps
    from reportgen.site.templating import make_environment, read_static

    html, has_charts = render_page(comparison)
    data = dumps(compare_json(comparison))
    markdown = compare_markdown(comparison)
    with guarded(out), staged_directory(out) as tmp:
        (tmp / "compare.html").write_text(html, encoding="utf-8")
        (tmp / "compare.json").write_text(data, encoding="utf-8")
        (tmp / "compare.md").write_text(markdown, encoding="utf-8")
        assets = tmp / "assets"
        assets.mkdir()
        (assets / "style.css").write_text(read_static(make_environment(), "style.css"),
                                          encoding="utf-8")
        if has_charts:
            (assets / "vega.js").write_text(_vega_bundle(), encoding="utf-8")
        write_manifest(tmp)
        carry_user_files(out, tmp)


def summary_line(comparison, out: Path, seconds: float) -> str:
    changed = [m for m in comparison.metrics if m.changed and m.model is not None]
    flips = sum(s.count for s in comparison.flips)
    verdict = f"{len(comparison.failed)} --fail-on rule result(s) failed" if comparison.failed \
        else ("no --fail-on rule failed" if comparison.rules else "no --fail-on rules")
    return (f"Comparison written to {out / 'compare.html'} in {seconds:.1f} s: "
            f"{len(comparison.pairs)} model pair(s), {flips:,} flipped prediction(s), "
            f"{len(changed):,} metric(s) changed; {verdict}.")
