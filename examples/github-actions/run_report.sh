#!/usr/bin/env bash
# run_report.sh OUT: the report of $REPORTGEN_MODELS on $REPORTGEN_DATA, written to OUT.
#
#   REPORTGEN_MODELS  model SPECs, separated by spaces, each given as --model (default: demo)
#   REPORTGEN_DATA    data SPEC (default: demo)
#   REPORTGEN_ARGS    more options of 'reportgen run', separated by spaces
#                     (e.g. "--only saliency,faithfulness --max-examples 2000")
#   REPORTGEN_CACHE_DIR is read by reportgen itself.
# The same command for the pull request and for main, so that the two reports compare.
set -euo pipefail
out=${1:?usage: run_report.sh OUT}
read -r -a specs <<< "${REPORTGEN_MODELS:-demo}"
read -r -a extra <<< "${REPORTGEN_ARGS:-}"
models=()
for spec in "${specs[@]}"; do
  models+=(--model "$spec")
done
set -x
reportgen run "${models[@]}" --data "${REPORTGEN_DATA:-demo}" --out "$out" "${extra[@]}"
