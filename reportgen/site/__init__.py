"""The static site: tidy tables and chart specs -> HTML pages, assets, report.json, summary.md.

This package never imports torch: it sees only what ``reportgen.site.record`` describes.

- ``builder.build_site(record, out, ...)``: the whole site (or one file), swapped into ``out``;
- ``record_io.save_record`` / ``load_record``: the record as JSON + Parquet, for ``reportgen render``;
- ``report_json.report_json(record)``, ``summary.summary_markdown(record)``: the machine files;
- ``pages`` (what templates see), ``charts`` (inline spec or PNG), ``tokens`` (shaded text),
  ``templating`` (Jinja environment, user overrides), ``budget`` (size limits), ``atomic``
  (replace a directory as a whole), ``output_dir`` (what ``--out`` may replace and keeps: the
  manifest, user files, preflight checks) and ``writer_lock`` (one writer per folder).
"""
