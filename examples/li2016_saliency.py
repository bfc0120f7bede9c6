"""Li et al. (2016), first-derivative saliency: RNN vs LSTM vs BiLSTM side by side.

Trains the three recurrent models of the paper (60-d, dropout 0.1) on MR, or on the demo corpus when
MR is not given, then writes a report whose saliency page shows the token x dimension heatmaps of
the three models on the same sentences, as in the paper's figures, plus each model's
``top_token_share``. Usage:

    python examples/li2016_saliency.py [--data mr:../shared/data/mr] [--out li2016-site]

The paper reports no accuracy for these models; it reads the heatmaps qualitatively (the LSTM and
BiLSTM focus on fewer, more sentiment-bearing tokens than the plain RNN). Compare the three
``<model>.top_token_share`` values the script prints.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="demo")
    parser.add_argument("--out", default="li2016-site")
    parser.add_argument("--models-dir", default="li2016-models")
    parser.add_argument("--max-examples", default="300")
    args = parser.parse_args()
    models = Path(args.models_dir)
    models.mkdir(exist_ok=True)
    reportgen = [sys.executable, "-m", "reportgen"]
    for arch in ("rnn", "lstm", "bilstm"):
        path = models / f"{arch}.pt"
        if not path.exists():
            subprocess.run([*reportgen, "train", arch, "--data", args.data, "--out", str(path)],
                           check=True)
    model_args = [a for arch in ("rnn", "lstm", "bilstm")
                  for a in ("--model", str(models / f"{arch}.pt"))]
    subprocess.run([*reportgen, "run", *model_args, "--data", args.data, "--out", args.out,
                    "--only", "saliency", "--max-examples", args.max_examples], check=True)
    report = json.loads((Path(args.out) / "report.json").read_text())
    for model in report["models"]:
        share = report["analyses"]["saliency"]["metrics"][f"{model['name']}.top_token_share"]
        print(f"{model['name']:>8}: accuracy {model['accuracy']:.3f}, top_token_share {share:.3f}")


if __name__ == "__main__":
    main()
