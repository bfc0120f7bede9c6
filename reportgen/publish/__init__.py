"""``reportgen publish``: put a report (or a compare folder) on a static host, with permalinks.

A published tree, at the root of the target (a git branch, an S3 prefix or a folder)::

    index.html                  the runs index: every published run and compare, newest first
    runs.json                   the same list, machine-readable (the index is rebuilt from it)
    assets/runs-<hash>.css      the report's CSS, for the runs index (named by its content)
    runs/<run-id>/...           one report, as ``reportgen run`` wrote it (a permalink)
    latest/...                  a copy of the newest run (by its ``created`` time)
    compares/<compare-id>/...   one ``reportgen compare`` folder
    .nojekyll                   git targets only (GitHub Pages serves the files as they are)

Anything else already there (a ``CNAME``, files of your own) is kept. The modules:

- ``source``: what DIR is (a report or a compare folder), its id and its index entry;
  ``run_id`` and ``published_url`` are the functions other commands call;
- ``links``: every relative ``href``/``src`` of every page resolves inside the tree;
- ``plan``: the tree after publishing, diffed against the target, in upload order;
- ``index_page``: ``runs.json`` and the runs index page;
- ``targets``: git (dulwich), S3 (boto3) and folder targets;
- ``secrets``: credentials scrubbed from every message;
- ``command``: the click command.
"""

from __future__ import annotations

from reportgen.publish.source import published_url, run_id

__all__ = ["published_url", "run_id"]
