"""Wine, two Gaussians: the first picture of the EM tutorial, fitted with emfast.

Malic acid against total phenols for 178 wines (scikit-learn's wine data). A
two-component Gaussian mixture is fitted by EM; the figure shows the wines
coloured by their posterior class, the two means with 1- and 2-sigma ellipses,
three new bottles with their posterior probabilities, and the mean
log-likelihood after each EM iteration.

The tutorial ends on Kate's question: a bottle's probability of belonging to a
component is a point estimate; how sure can she be of it? A Bayesian mixture
answers: parameters drawn from its posterior give a distribution of each
bottle's membership probability, summarised by its mean and its 50 % and 90 %
intervals. The bottle between the two clusters gets a wide interval, the other
two narrow ones, and twenty times as many wines narrow it further. (With 178
wines the prior on the covariances still widens the components and pulls that
bottle towards the fence; with twenty times the data the Bayesian mean comes
close to the EM probability.)

    python examples/wine_two_gaussians.py [--out DIR] [--quick]
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _common import parse_args, save  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from emfast import BayesianGaussianMixture, GaussianMixture  # noqa: E402
from emfast.datasets import load_wine_tutorial  # noqa: E402

# membership intervals from draws of the variational posterior


NEW_BOTTLES = np.array([[1.6, 2.9], [4.2, 1.5], [2.5, 2.2]])
COLOURS = ["tab:blue", "tab:orange"]
LEVELS = (0.5, 0.9)
MORE_DATA = 20  # the wines repeated this many times: the same data, more of it


def covariance_ellipse(mean, covariance, n_sigma, **style):
    """The ``n_sigma`` contour of a 2-D Gaussian as a matplotlib patch."""
    values, vectors = np.linalg.eigh(covariance)
    angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
    width, height = 2 * n_sigma * np.sqrt(values[::-1])
    return Ellipse(mean, width, height, angle=angle, fill=False, **style)


def membership_intervals(X, rows, reference_means, n_draws):
    """Mean, 50 % and 90 % intervals of P(component 0) under a Bayesian fit.

    Components are matched to ``reference_means`` (the EM fit), so that
    component 0 is the same cluster in both.
    """
    bgm = BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    order = [0, 1]
    if np.linalg.norm(bgm.means_[0] - reference_means[0]) > np.linalg.norm(
        bgm.means_[1] - reference_means[0]
    ):
        order = [1, 0]
    summary = {"proba": bgm.predict_proba(rows)[:, order[0]]}
    for level in LEVELS:
        mean, lower, upper = bgm.predict_proba_interval(
            rows, level=level, n_draws=n_draws, random_state=0
        )
        summary["mean"] = mean[:, order[0]]
        summary[level] = (lower[:, order[0]], upper[:, order[0]])
    return summary


def print_intervals(gm, few, more):
    print("\nThree new bottles, P(component 0):")
    print(
        "  bottle (malic, phenols)   EM     Bayes: mean   50 % interval    "
        "90 % interval"
    )
    for b, bottle in enumerate(NEW_BOTTLES):
        for label, s in (("", few), (f" x{MORE_DATA} data", more)):
            (lo50, hi50), (lo90, hi90) = s[0.5], s[0.9]
            em = f"{gm.predict_proba(NEW_BOTTLES)[b, 0]:.3f}" if not label else "     "
            print(
                f"  {b + 1}: ({bottle[0]:.1f}, {bottle[1]:.1f}){label:>12} {em}"
                f"        {s['mean'][b]:.3f}   [{lo50[b]:.3f}, {hi50[b]:.3f}]"
                f"   [{lo90[b]:.3f}, {hi90[b]:.3f}]"
            )
    fence = np.argmax(few[0.9][1] - few[0.9][0])
    ratio = (more[0.9][1] - more[0.9][0])[fence] / (few[0.9][1] - few[0.9][0])[fence]
    print(
        f"Bottle {fence + 1} sits on the fence; with {MORE_DATA} times the data "
        f"its 90 % interval is {ratio:.2f} times as wide."
    )


def draw_intervals(ax, few, more):
    """Horizontal bars: 90 % (thin) and 50 % (thick) intervals, mean as a dot."""
    rows = [(f"bottle {b + 1}", few, b) for b in range(len(NEW_BOTTLES))]
    fence = int(np.argmax(few[0.9][1] - few[0.9][0]))
    rows.append((f"bottle {fence + 1},\n{MORE_DATA}\u00d7 the wines", more, fence))
    for y, (_, s, b) in enumerate(rows):
        (lo50, hi50), (lo90, hi90) = s[0.5], s[0.9]
        ax.plot(
            [lo90[b], hi90[b]], [y, y], color="tab:gray", lw=3, solid_capstyle="butt"
        )
        ax.plot([lo50[b], hi50[b]], [y, y], color="black", lw=7, solid_capstyle="butt")
        ax.plot(
            s["mean"][b],
            y,
            "o",
            color="white",
            markeredgecolor="black",
            markersize=7,
            zorder=3,
        )
        ax.annotate(
            f"{s['mean'][b]:.2f}  [{lo90[b]:.2f}, {hi90[b]:.2f}]",
            (hi90[b], y),
            xytext=(8, -3),
            textcoords="offset points",
            fontsize=9,
        )
    ax.plot([], [], color="tab:gray", lw=3, label="90 % interval")
    ax.plot([], [], color="black", lw=7, label="50 % interval")
    ax.plot([], [], "o", color="white", markeredgecolor="black", label="mean")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.7)
    ax.set_xlim(-0.02, 1.35)
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.axvline(0.5, color="tab:gray", lw=0.8, ls=":")
    ax.set_xlabel("P(component 0): posterior of the Bayesian mixture")
    ax.set_title("How sure is each membership?")
    ax.legend(loc="lower left", fontsize=8)


def main():
    args = parse_args(__doc__.splitlines()[0])
    n_draws = 200 if args.quick else 2000
    X, _, names = load_wine_tutorial()
    # tol=1e-6 so that the log-likelihood curve shows the whole climb
    gm = GaussianMixture(
        2, random_state=0, init_params="random", tol=1e-6, max_iter=200
    ).fit(X)
    proba = gm.predict_proba(X)
    print(
        f"converged after {gm.n_iter_} iterations, mean log-likelihood "
        f"{gm.lower_bound_:.4f}"
    )
    few = membership_intervals(X, NEW_BOTTLES, gm.means_, n_draws)
    more = membership_intervals(
        np.tile(X, (MORE_DATA, 1)), NEW_BOTTLES, gm.means_, n_draws
    )
    print_intervals(gm, few, more)

    figure = plt.figure(figsize=(14, 7.5))
    grid = figure.add_gridspec(2, 2, width_ratios=[3, 2])
    ax = figure.add_subplot(grid[:, 0])
    ax_interval = figure.add_subplot(grid[0, 1])
    ax_ll = figure.add_subplot(grid[1, 1])
    colours = np.array([matplotlib.colors.to_rgb(c) for c in COLOURS])
    ax.scatter(X[:, 0], X[:, 1], c=proba @ colours, s=18, alpha=0.8, edgecolors="none")
    for k in range(2):
        for n_sigma, style in ((1, "-"), (2, "--")):
            ax.add_patch(
                covariance_ellipse(
                    gm.means_[k],
                    gm.covariances_[k],
                    n_sigma,
                    color=COLOURS[k],
                    linestyle=style,
                    linewidth=1.8,
                )
            )
        ax.plot(
            *gm.means_[k],
            marker="X",
            markersize=12,
            color=COLOURS[k],
            markeredgecolor="black",
            label=f"component {k}: weight {gm.weights_[k]:.2f}",
        )
    lower, upper = few[0.9]
    for b, (bottle, p) in enumerate(zip(NEW_BOTTLES, gm.predict_proba(NEW_BOTTLES))):
        ax.plot(*bottle, marker="*", markersize=16, color="black")
        ax.annotate(
            f"bottle {b + 1}: EM P(0) = {p[0]:.2f}\n"
            f"Bayes {few['mean'][b]:.2f}, 90 % [{lower[b]:.2f}, "
            f"{upper[b]:.2f}]",
            bottle,
            xytext=(8, 6),
            textcoords="offset points",
            fontsize=9,
            bbox={"boxstyle": "round", "fc": "white", "alpha": 0.8},
        )
    ax.plot([], [], "k-", label="1-sigma ellipse")
    ax.plot([], [], "k--", label="2-sigma ellipse")
    ax.plot([], [], "k*", markersize=12, linestyle="none", label="new bottles")
    ax.set_xlabel(f"{names[0].replace('_', ' ')} (g/l)")
    ax.set_ylabel(names[1].replace("_", " "))
    ax.set_title("Wines coloured by posterior class (K = 2)")
    ax.legend(loc="upper right", fontsize=9)

    draw_intervals(ax_interval, few, more)

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
