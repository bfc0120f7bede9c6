"""The static site: tidy tables and chart specs -> HTML pages, assets, report.json, summary.md.

This package never imports torch: it sees only what ``reportgen.site.record`` describes.
"""
