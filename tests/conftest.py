"""Settings for the whole test run."""

import os

# every chart an analysis draws is checked against the Vega-Lite schema in the tests (users' runs
# skip the check for speed: ``reportgen.chart_layout.chart_spec``)
os.environ["REPORTGEN_VALIDATE_CHARTS"] = "1"
