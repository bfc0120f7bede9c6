"""The static site: tidy tables and chart specs -> HTML pages, assets, report.json, summary.md.

This package never imports torch: it sees only what ``reportgen.records`` describes.

- ``builder.build_site(record, out, ...)``: the whole site (or one file), swapped into ``out``;
- ``report_json.report_json(record)``, ``summary.summary_markdown(record)``: the machine files;
- ``pages`` (what templates see), ``charts`` (inline spec or PNG), ``tokens`` (shaded text),
  ``templating`` (Jinja environment, user overrides), ``budget`` (size limits), ``output_dir`` (what
  ``--out`` may replace and keeps: the manifest, user files, preflight checks) and ``writer_lock``
  (one writer per folder).
"""
