"""Build the report site from a ``RunRecord``: ``build_site(record, out)``.

Stages, in order (all inside a staging directory that replaces ``out`` only at the end):

1. write every table that has rows as CSV (``data/<analysis>/<table>.csv``; an empty table gets
   no file, no section and no link);
2. prepare each analysis for its page: charts (inline spec, or PNG when large), token views, the
   first rows of each table;
3. render the pages (``index.html``, ``analyses/<name>.html``) and copy the assets (the Vega bundle
   once, the CSS);
4. write ``report.json``, ``summary.md`` and ``data/predictions.csv.gz`` (every evaluated
   example's prediction per classifier, for ``reportgen compare``);
5. check the size budget, write ``.reportgen-manifest.json`` (every file reportgen wrote), carry
   over the files the user added to the previous site, then swap the new site into place.

With ``single_file=True``, ``index.html`` holds everything (bundle, CSS, every analysis as a
section, tables as ``data:`` downloads while they fit), next to ``report.json`` and ``summary.md``.
An exception anywhere leaves the previous site untouched. What may be replaced, what is kept and
the one-writer lock are ``reportgen.site.output_dir``'s business.
"""

from __future__ import annotations

import functools
import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup

from reportgen.analyses.sampling import detail_sample
from reportgen.atomic import staged_directory
from reportgen.records import RunRecord
from reportgen.site.budget import MB, check_budget, directory_size, format_size
from reportgen.site.charts import length_histogram
from reportgen.site.manifest import write_manifest
from reportgen.site.output_dir import carry_user_files, guarded
from reportgen.site.pages import (
    AnalysisPage,
    csv_filename,
    data_uri,
    index_context,
    prepare_analysis,
    shown_tables,
    slug,
)
from reportgen.site.report_json import dumps, log_path, report_json
from reportgen.site.summary import summary_markdown
from reportgen.site.table_files import LARGE_TABLE_ROWS, cached_table_files, to_csv_bytes
from reportgen.site.templating import make_environment, read_static

KNOWN_STATUSES = ("ok", "skipped", "failed")
SINGLE_FILE_CSV_SHARE = 0.4  # of the page budget, for tables embedded as data: downloads
PREDICTIONS_CSV = "data/predictions.csv.gz"  # every evaluated example's prediction, per model
PREDICTIONS_MAX_ROWS = 250_000  # examples x classifiers; beyond: the run's detail sample only


@dataclass(frozen=True)
class FullTable:
    """Every row of a long table, gzipped beside its sampled CSV (``site.table_files``)."""

    path: str  # in the site, e.g. data/saliency/predictions.csv.gz
    size: int  # bytes
    csv_rows: int  # rows in the sampled CSV beside it


@dataclass(frozen=True)
class SiteResult:
    """What ``build_site`` wrote: the index page, and the user's files it kept (relative paths as
    ``output_dir.user_files`` names them, a folder once with a trailing ``/``)."""

    index: Path
    kept: tuple[str, ...] = ()


@functools.lru_cache(maxsize=1)
def _vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (vl-convert's bundle). Building it takes over a
    second, so it is kept in the cache folder per vl-convert version; a cache that cannot be read or
    written only costs that second."""
    import vl_convert

    from reportgen.cache import cache_root

    path = cache_root() / "assets" / (
        f"vega-bundle-{getattr(vl_convert, '__version__', 'unknown')}.js"
    )
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    bundle = vl_convert.javascript_bundle()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f"{path.name}.{os.getpid()}.part")
        part.write_text(bundle, encoding="utf-8")
        os.replace(part, path)
    except OSError:
        pass
    return bundle


class _SiteWriter:
    """One build: knows where things go and how pages link to each other."""

    def __init__(self, record: RunRecord, env: jinja2.Environment, root: Path, single: bool,
                 table_cache: Path | None = None):
        self.record = record
        self.table_cache = table_cache
        self.env = env
        self.root = root
        self.single = single
        self.page_sizes: dict[str, int] = {}
        self.csv_paths: dict[str, dict[str, str]] = {}
        # analysis -> CSV file name -> its .gz
        self.full_tables: dict[str, dict[str, FullTable]] = {}
        names = [a.name for a in record.analyses]
        if len(set(names)) != len(names):
            raise ValueError(f"analysis names repeat: {names}")
        self.slugs = {a.name: slug(a.name) for a in record.analyses}

    # links ---------------------------------------------------------------------------------
    def href(self, name: str | None, root: str) -> str:
        if self.single:
            return "#overview" if name is None else f"#analysis-{self.slugs[name]}"
        return f"{root}index.html" if name is None else f"{root}analyses/{self.slugs[name]}.html"

    def nav(self, root: str) -> list[dict]:
        return [
            {"name": a.name, "title": a.title, "status": a.status, "href": self.href(a.name, root)}
            for a in self.record.analyses
        ]

    def common(self, root: str, current: str) -> dict:
        return {
            "run": self.record,
            "root": root,
            "single": self.single,
            "current": current,
            "home_href": self.href(None, root),
            "nav": self.nav(root),
        }

    # stages --------------------------------------------------------------------------------
    def write_tables(self) -> dict[str, dict[str, bytes]]:
        """CSV bytes of every table with rows; written to ``data/`` unless single-file."""
        out: dict[str, dict[str, bytes]] = {}
        for a in self.record.analyses:
            files: dict[str, bytes] = {}
            for name, frame in shown_tables(a).items():
                filename = csv_filename(name, files)
                # one file: the whole table is embedded while it fits the page (no sample, no gzip)
                written = cached_table_files(frame, self.record.seed,
                                             len(frame) if self.single else LARGE_TABLE_ROWS,
                                             self.table_cache)
                files[filename] = written.csv
                if not self.single:
                    path = self.root / "data" / self.slugs[a.name] / filename
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(written.csv)
                    rel = path.relative_to(self.root).as_posix()
                    self.csv_paths.setdefault(a.name, {})[name] = rel
                    if written.full_gz is not None:
                        gz = path.with_name(f"{filename}.gz")
                        gz.write_bytes(written.full_gz)
                        self.full_tables.setdefault(a.name, {})[filename] = FullTable(
                            gz.relative_to(self.root).as_posix(), len(written.full_gz),
                            written.csv_rows)
            out[a.name] = files
        return out

    def prepare(
        self, csvs: dict[str, dict[str, bytes]], page_budget_mb: float
    ) -> list[AnalysisPage]:
        pages = []
        embed_left = int(page_budget_mb * MB * SINGLE_FILE_CSV_SHARE)
        models = [m.name for m in self.record.models]
        for a in self.record.analyses:
            page = prepare_analysis(a, self.slugs[a.name], models)
            for table, data in zip(page.tables, csvs[a.name].values(), strict=True):
                if not self.single:
                    table.href = f"../data/{self.slugs[a.name]}/{table.filename}"
                    full = self.full_tables.get(a.name, {}).get(table.filename)
                    if full is not None:
                        table.full_href, table.full_filename = (
                            f"../{full.path}", full.path.rsplit("/", 1)[-1])
                        table.full_size, table.csv_rows = format_size(full.size), full.csv_rows
                elif len(data) * 4 // 3 <= embed_left:
                    table.href = data_uri(data, "text/csv;charset=utf-8")
                    embed_left -= len(data) * 4 // 3
                else:
                    table.note = (
                        "too large to embed in a single file: build the report without "
                        "--single-file to download it"
                    )
            for chart in page.charts:
                if chart.kind != "png" or chart.png is None:
                    continue
                if self.single:
                    chart.src = data_uri(chart.png, "image/png")
                else:
                    rel = Path("assets") / "charts" / self.slugs[a.name] / f"{chart.name}.png"
                    (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
                    (self.root / rel).write_bytes(chart.png)
                    chart.src = f"../{rel.as_posix()}"
                    page.image_bytes += len(chart.png)
            pages.append(page)
        return pages

    def analysis_context(self, page: AnalysisPage, root: str) -> dict:
        return {
            **self.common(root, page.record.name),
            **page.context(),
            "status_class": _status_class(page.record.status),
            "layout": "fragment.html" if self.single else "base.html",
            "part_id": f"analysis-{page.slug}",
        }

    def index_context(self, root: str) -> dict:
        chart_spec = length_histogram(self.record.data.length_counts)
        ctx = index_context(self.record, chart_spec, lambda name: self.href(name, root))
        return {
            **self.common(root, "index"),
            **ctx,
            "layout": "fragment.html" if self.single else "base.html",
            "part_id": "overview",
        }

    def page_globals(self, has_charts: bool, root: str) -> dict:
        ctx: dict = {
            "has_charts": has_charts,
            "render_js": Markup(read_static(self.env, "render.js")),
        }
        if self.single:
            bundle = _vega_bundle().replace("</script", "<\\/script")
            ctx["vega_bundle"] = Markup(bundle) if has_charts else ""
            ctx["inline_css"] = Markup(read_static(self.env, "style.css"))
        return ctx

    def render_pages(self, pages: list[AnalysisPage]) -> None:
        if self.single:
            self.render_single(pages)
            return
        assets = self.root / "assets"
        assets.mkdir(exist_ok=True)
        (assets / "vega.js").write_text(_vega_bundle(), encoding="utf-8")
        (assets / "style.css").write_text(read_static(self.env, "style.css"), encoding="utf-8")
        index = self.env.get_template("index.html")
        html = index.render(**self.index_context(""), **self.page_globals(True, ""))
        self.write_page("index.html", html)
        (self.root / "analyses").mkdir(exist_ok=True)
        for page in pages:
            template = self.env.select_template(
                [f"analyses/{page.record.name}.html", "analysis.html"]
            )
            ctx = self.analysis_context(page, "../")
            html = template.render(**ctx, **self.page_globals(page.has_vega, "../"))
            self.write_page(f"analyses/{page.slug}.html", html, page.image_bytes)

    def render_single(self, pages: list[AnalysisPage]) -> None:
        glob = self.page_globals(True, "")
        parts = [self.env.get_template("index.html").render(**self.index_context(""), **glob)]
        for page in pages:
            template = self.env.select_template(
                [f"analyses/{page.record.name}.html", "analysis.html"]
            )
            parts.append(template.render(**self.analysis_context(page, ""), **glob))
        single = self.env.get_template("single.html")
        ctx = {**self.common("", "index"), **glob, "parts": [Markup(p) for p in parts]}
        self.write_page("index.html", single.render(**ctx, page_title="Report"))

    def write_page(self, rel: str, html: str, extra_bytes: int = 0) -> None:
        data = html.encode("utf-8")
        (self.root / rel).write_bytes(data)
        self.page_sizes[rel] = len(data) + extra_bytes

    def write_predictions(self) -> pd.DataFrame | None:
        """``PREDICTIONS_CSV``: the model cards' predictions of every evaluated example (what
        ``reportgen compare`` pairs two reports on), probabilities to 4 decimals, gzipped with a
        fixed timestamp; over ``PREDICTIONS_MAX_ROWS`` rows only the run's detail sample (the
        examples that keep per-token rows); not in a single-file report."""
        frames = [m.predictions.assign(model=m.name) for m in self.record.models
                  if m.predictions is not None and len(m.predictions)]
        if self.single or not frames:
            return None
        frame = pd.concat(frames, ignore_index=True)
        probs = sorted((c for c in frame.columns if c[:1] == "p" and c[1:].isdigit()),
                       key=lambda c: int(c[1:]))
        frame = frame[["model", "example_id", "label", "predicted", *probs]].round(
            {c: 4 for c in probs})
        d = self.record.data
        if len(frame) > PREDICTIONS_MAX_ROWS and 0 < d.detail_examples < d.examples:
            keep = detail_sample(d.examples, d.detail_examples, self.record.seed)
            frame = frame[frame["example_id"].isin(keep)].reset_index(drop=True)
        path = self.root / PREDICTIONS_CSV
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(to_csv_bytes(frame), compresslevel=6, mtime=0))
        return frame

    def write_machine_files(self) -> None:
        predictions = self.write_predictions()
        report = report_json(self.record, self.csv_paths, self.full_tables,
                             predictions=None if predictions is None else
                             {"csv": PREDICTIONS_CSV, "rows": len(predictions),
                              "columns": [str(c) for c in predictions.columns],
                              "examples": int(predictions["example_id"].nunique())})
        (self.root / "report.json").write_text(dumps(report), encoding="utf-8")
        (self.root / "summary.md").write_text(summary_markdown(self.record), encoding="utf-8")
        for a in self.record.analyses:  # a failed analysis's traceback, for whoever debugs it
            if a.status == "failed" and a.log:
                path = self.root / log_path(a.name)
                path.parent.mkdir(exist_ok=True)
                path.write_text(a.log, encoding="utf-8")


def _status_class(status: str) -> str:
    return status if status in KNOWN_STATUSES else "unknown"


def build_site(
    record: RunRecord,
    out: Path,
    *,
    single_file: bool = False,
    page_budget_mb: float = 5,
    site_budget_mb: float = 50,
    template_dir: Path | None = None,
    table_cache: Path | None = None,
) -> SiteResult:
    """Write the report for ``record`` to ``out`` and return its index page and the kept files.

    ``out`` must be new, empty or a site reportgen wrote (``output_dir.preflight``); reportgen's
    files there are replaced as a whole, files the user added are carried over unchanged.
    ``template_dir`` holds templates that override the built-in ones, file by file.
    ``table_cache``: a cache folder where the tables' CSV files written before are read back
    (``table_files.cached_table_files``). Raises
    ``SiteTooLarge`` (a ``BadInput``) when a page or the site is over budget, and ``BadInput`` when
    ``out`` is not a report folder, cannot be written, is being written by another run
    (``output_dir.lock``, re-entrant, so a caller may hold it around the whole run) or holds a
    user file where the new site writes one; either way nothing in ``out`` changes.
    """
    out = Path(out).absolute()
    env = make_environment(template_dir)
    # checked again at write time (the run may have taken minutes); the lock is re-entrant
    with guarded(out), staged_directory(out) as tmp:
        writer = _SiteWriter(record, env, tmp, single_file, table_cache)
        csvs = writer.write_tables()
        pages = writer.prepare(csvs, page_budget_mb)
        writer.render_pages(pages)
        writer.write_machine_files()
        check_budget(
            writer.page_sizes,
            directory_size(tmp),
            page_budget_mb=page_budget_mb,
            site_budget_mb=site_budget_mb,
        )
        write_manifest(tmp)
        kept = carry_user_files(out, tmp)
    return SiteResult(out / "index.html", kept)
