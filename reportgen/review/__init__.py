"""``reportgen compare OLD NEW --out DIR``: a model review of two report folders (no model needed).

Modules, in the order the review runs:

- ``reports``: reading a report folder (report.json, its tables, the per-example predictions);
- ``compare``: the stages, from two folders to a ``Comparison`` (data check, model pairing);
- ``stats``: paired bootstrap intervals, McNemar's exact test, rank agreement;
- ``per_example``: which metrics are means over examples, and their per-example values;
- ``metrics``: every metric's difference, interval and verdict;
- ``flips``: the predictions that changed, each way;
- ``attributions``, ``words``: agreement of token attributions; words whose saliency rank moved;
- ``filters``, ``neurons``: conv filters matched by their top n-grams; best sweep units;
- ``rules``: ``--fail-on`` (exit code ``rules.REGRESSION``, 3);
- ``compare_json``, ``markdown``, ``page``, ``charts``, ``formatting``: compare.json,
  compare.md, compare.html;
- ``command``: the click command, registered in ``reportgen.cli``.

``docs/compare.md`` documents compare.json's fields and version.
"""
