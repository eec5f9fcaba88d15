"""Speed: emfast vs scikit-learn per EM iteration, from benchmarks/compare.py.

Draws the ratios of the latest side-by-side run stored in
``benchmarks/results/compare.json`` (regenerate it with
``python benchmarks/compare.py --json benchmarks/results/compare.json``; a full
run takes several minutes because scikit-learn is slow at these sizes).

    python examples/speed.py [--out DIR]
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _common import parse_args, save  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def label(row):
    what = "predict_proba" if row["case"] == "predict_proba" else "EM iteration"
    return (
        f"{what}\nD={row['n_features']} K={row['n_components']} "
        f"{row['covariance_type']} {row['dtype']}"
    )


def main():
    args = parse_args(__doc__.splitlines()[0])
    results = json.loads((RESULTS / "compare.json").read_text())
    rows = results["rows"]
    ratios = [row["ratio"] for row in rows]
    figure, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    positions = range(len(rows))[::-1]
    colours = [
        "tab:green" if row["dtype"] == "float64" else "tab:purple" for row in rows
    ]
    bars = ax.barh(list(positions), ratios, color=colours)
    for bar, ratio in zip(bars, ratios):
        ax.text(
            bar.get_width() * 1.01,
            bar.get_y() + bar.get_height() / 2,
            f"{ratio:.1f}x",
            va="center",
            fontsize=9,
        )
    ax.set_yticks(list(positions), [label(row) for row in rows], fontsize=8)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.axvline(10.0, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("speed-up over scikit-learn (same data, start and threads)")
    ax.set_xlim(0, max(ratios) * 1.15)
    n = rows[0]["n_samples"]
    ax.set_title(
        f"emfast / scikit-learn, N = {n:.0e} rows\n{results['machine']}", fontsize=8
    )
    ax.plot([], [], "s", color="tab:green", label="float64")
    ax.plot([], [], "s", color="tab:purple", label="float32")
    ax.plot([], [], "--", color="grey", label="10x")
    ax.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    save(figure, args.out, "speed")


if __name__ == "__main__":
    main()
