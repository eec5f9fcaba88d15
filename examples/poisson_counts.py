"""Counts: a two-component Poisson mixture on simulated data.

The EM tutorial starts from a mixture of Poissons: counts that come from two
populations with rates 2 and 10 (weights 0.3 and 0.7). ``PoissonMixture``
recovers them; the figure shows the histogram of the counts with each fitted
component's probability mass function (scaled by its weight) and their sum.

    python examples/poisson_counts.py [--out DIR]
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _common import parse_args, save  # noqa: E402
from scipy.stats import poisson  # noqa: E402

from emfast import PoissonMixture  # noqa: E402

TRUE_WEIGHTS = np.array([0.3, 0.7])
TRUE_RATES = np.array([2.0, 10.0])


def main():
    args = parse_args(__doc__.splitlines()[0])
    rng = np.random.default_rng(0)
    n_samples = 2_000 if args.quick else 10_000
    component = rng.choice(2, size=n_samples, p=TRUE_WEIGHTS)
    counts = rng.poisson(TRUE_RATES[component])[:, None]

    pm = PoissonMixture(2, random_state=0).fit(counts)
    order = np.argsort(pm.rates_[:, 0])
    weights, rates = pm.weights_[order], pm.rates_[order, 0]
    print(
        f"fitted weights {weights.round(3)}, rates {rates.round(2)} "
        f"(true {TRUE_WEIGHTS}, {TRUE_RATES}); {pm.n_iter_} EM iterations"
    )

    values = np.arange(counts.max() + 2)
    figure, ax = plt.subplots(figsize=(8, 4.5))
    ax.hist(
        counts[:, 0],
        bins=np.arange(values[-1] + 1) - 0.5,
        density=True,
        color="lightgrey",
        edgecolor="white",
        label=f"{n_samples} counts",
    )
    total = np.zeros(values.shape)
    for k, colour in zip(range(2), ("tab:blue", "tab:orange")):
        pmf = weights[k] * poisson.pmf(values, rates[k])
        total += pmf
        ax.plot(
            values,
            pmf,
            "o-",
            color=colour,
            markersize=4,
            label=f"component {k}: weight {weights[k]:.2f}, rate {rates[k]:.2f}",
        )
    ax.plot(values, total, "k--", linewidth=1.5, label="mixture")
    ax.set_xlabel("count")
    ax.set_ylabel("probability")
    ax.set_title("Poisson mixture fitted by EM (true rates 2 and 10, weights 0.3/0.7)")
    ax.legend(fontsize=9)
    figure.tight_layout()
    save(figure, args.out, "poisson_counts")


if __name__ == "__main__":
    main()
