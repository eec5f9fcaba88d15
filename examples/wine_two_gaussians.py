"""Wine, two Gaussians: the first picture of the EM tutorial, fitted with emfast.

Malic acid against total phenols for 178 wines (scikit-learn's wine data). A
two-component Gaussian mixture is fitted by EM; the figure shows the wines
coloured by their posterior class, the two means with 1- and 2-sigma ellipses,
three new bottles with their posterior probabilities, and the mean
log-likelihood after each EM iteration.

    python examples/wine_two_gaussians.py [--out DIR]
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _common import parse_args, save  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from emfast import GaussianMixture  # noqa: E402
from emfast.datasets import load_wine_tutorial  # noqa: E402

NEW_BOTTLES = np.array([[1.6, 2.9], [4.2, 1.5], [2.5, 2.2]])
COLOURS = ["tab:blue", "tab:orange"]


def covariance_ellipse(mean, covariance, n_sigma, **style):
    """The ``n_sigma`` contour of a 2-D Gaussian as a matplotlib patch."""
    values, vectors = np.linalg.eigh(covariance)
    angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
    width, height = 2 * n_sigma * np.sqrt(values[::-1])
    return Ellipse(mean, width, height, angle=angle, fill=False, **style)


def main():
    args = parse_args(__doc__.splitlines()[0])
    X, _, names = load_wine_tutorial()
    # tol=1e-6 so that the log-likelihood curve shows the whole climb
    gm = GaussianMixture(2, random_state=0, init_params="random", tol=1e-6,
                         max_iter=200).fit(X)
    proba = gm.predict_proba(X)
    print(f"converged after {gm.n_iter_} iterations, mean log-likelihood "
          f"{gm.lower_bound_:.4f}")

    figure, (ax, ax_ll) = plt.subplots(1, 2, figsize=(12, 5),
                                       gridspec_kw={"width_ratios": [3, 2]})
    colours = np.array([matplotlib.colors.to_rgb(c) for c in COLOURS])
    ax.scatter(X[:, 0], X[:, 1], c=proba @ colours, s=18, alpha=0.8,
               edgecolors="none")
    for k in range(2):
        for n_sigma, style in ((1, "-"), (2, "--")):
            ax.add_patch(covariance_ellipse(
                gm.means_[k], gm.covariances_[k], n_sigma, color=COLOURS[k],
                linestyle=style, linewidth=1.8))
        ax.plot(*gm.means_[k], marker="X", markersize=12, color=COLOURS[k],
                markeredgecolor="black",
                label=f"component {k}: weight {gm.weights_[k]:.2f}")
    for bottle, p in zip(NEW_BOTTLES, gm.predict_proba(NEW_BOTTLES)):
        ax.plot(*bottle, marker="*", markersize=16, color="black")
        ax.annotate(f"P(0) = {p[0]:.2f}, P(1) = {p[1]:.2f}", bottle, xytext=(8, 6),
                    textcoords="offset points", fontsize=9,
                    bbox={"boxstyle": "round", "fc": "white", "alpha": 0.8})
    ax.plot([], [], "k-", label="1-sigma ellipse")
    ax.plot([], [], "k--", label="2-sigma ellipse")
    ax.plot([], [], "k*", markersize=12, linestyle="none", label="new bottles")
    ax.set_xlabel(f"{names[0].replace('_', ' ')} (g/l)")
    ax.set_ylabel(names[1].replace("_", " "))
    ax.set_title("Wines coloured by posterior class (K = 2)")
    ax.legend(loc="upper right", fontsize=9)

    iterations = np.arange(1, len(gm.lower_bounds_) + 1)
    ax_ll.plot(iterations, gm.lower_bounds_, marker="o", markersize=3)
    ax_ll.set_xlabel("EM iteration")
    ax_ll.set_ylabel("mean log-likelihood")
    ax_ll.set_title("EM climbs the log-likelihood")
    ax_ll.grid(alpha=0.3)
    figure.tight_layout()
    save(figure, args.out, "wine_two_gaussians")


if __name__ == "__main__":
    main()
