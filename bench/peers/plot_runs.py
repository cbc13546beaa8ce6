#!/usr/bin/env python3
"""Plots one split's accuracy from several runs' metrics.csv files in one chart.

    plot_runs.py OUT.png TITLE LABEL=metrics.csv [LABEL=metrics.csv ...]

Each metrics.csv is the file `ssm train` writes (columns step, split, loss,
accuracy, ...); the validation rows are drawn, one line per run, so that
runs of one recipe can be compared (for example the spread between GPU runs
of one seed). Needs matplotlib.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def validation(path):
    """(steps, accuracies in %) of the validation rows of one metrics.csv."""
    steps, accuracy = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["split"] == "val":
                steps.append(int(row["step"]))
                accuracy.append(100 * float(row["accuracy"]))
    if not steps:
        sys.exit(f"{path}: no validation rows")
    return steps, accuracy


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, title = sys.argv[1], sys.argv[2]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    for spec in sys.argv[3:]:
        label, sep, path = spec.partition("=")
        if not sep:
            sys.exit(f"{spec}: expected LABEL=metrics.csv")
        steps, accuracy = validation(path)
        ax.plot(steps, accuracy, marker=".", label=f"{label} (last {accuracy[-1]:.2f} %)")
    ax.set_xlabel("step")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
