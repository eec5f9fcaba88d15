"""A family of your own: a mixture of von Mises distributions on wind directions.

Directions are angles: a Gaussian mixture cannot wrap around from -pi to pi, a
mixture of von Mises distributions can. The family is written by hand (two
numba functions and a NumPy M-step, as in the README) and fitted by
``CustomMixture`` with emfast's EM engine; ``select_n_components`` chooses the
number of components by BIC. The figure shows the directions as a rose with
the fitted density and its components, and BIC against K.

    python examples/custom_family.py [--out DIR] [--quick]
"""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402
from _common import parse_args, save  # noqa: E402
from scipy.special import i0e, i1e  # noqa: E402

from emfast import ComponentFamily, CustomMixture, select_n_components  # noqa: E402

TRUE_WEIGHTS = np.array([0.3, 0.45, 0.25])
TRUE_MEANS = np.array([-2.0, 0.5, 2.9])  # the third one straddles +-pi
TRUE_KAPPAS = np.array([6.0, 12.0, 4.0])


# theta = [mu, kappa, kappa cos mu, kappa sin mu, log C(kappa)]; the density
# kappa cos(x - mu) + log C = kappa cos mu cos x + kappa sin mu sin x + log C
# is linear in T(x) = (cos x, sin x): two multiply-adds per component
@numba.njit(cache=True)
def statistics(x, t):  # once per row
    t[0] = math.cos(x[0])
    t[1] = math.sin(x[0])


@numba.njit(cache=True)
def log_density(x, t, theta):  # per row and component
    return theta[2] * t[0] + theta[3] * t[1] + theta[4]


def m_step(nk, sums):  # maximum likelihood from sum r and sum r T(x)
    mu = np.arctan2(sums[:, 1], sums[:, 0])
    rbar = np.clip(np.hypot(sums[:, 0], sums[:, 1]) / nk, 1e-12, 1 - 1e-12)
    kappa = rbar * (2 - rbar**2) / (1 - rbar**2)  # Banerjee et al. (2005)
    for _ in range(3):  # Newton steps on I1(kappa) / I0(kappa) = rbar
        a = i1e(kappa) / i0e(kappa)
        kappa = kappa - (a - rbar) / (1 - a**2 - a / kappa)
    log_c = -np.log(2 * np.pi * i0e(kappa)) - kappa
    return np.column_stack([mu, kappa, kappa * np.cos(mu), kappa * np.sin(mu), log_c])


def sample(theta, n_samples, rng):  # for model.sample
    return rng.vonmises(theta[0], theta[1], size=(n_samples, 1))


VON_MISES = ComponentFamily(
    log_density,
    statistics,
    m_step,
    n_statistics=2,
    n_parameters=2,
    sample=sample,
    name="von Mises",
)


def component_densities(model, grid):
    """(len(grid), K): weight_k * p(x | theta_k) on the grid."""
    mu, kappa, log_c = model.params_[:, 0], model.params_[:, 1], model.params_[:, 4]
    return model.weights_ * np.exp(kappa * np.cos(grid[:, None] - mu) + log_c)


def main():
    args = parse_args(__doc__.splitlines()[0])
    rng = np.random.default_rng(0)
    n_samples = 5_000 if args.quick else 100_000
    labels = rng.choice(3, size=n_samples, p=TRUE_WEIGHTS)
    angles = rng.vonmises(TRUE_MEANS[labels], TRUE_KAPPAS[labels])[:, np.newaxis]

    result = select_n_components(
        angles,
        range(1, 6),
        estimator=CustomMixture(VON_MISES, random_state=0),
        tol=1e-6,
        max_iter=1000,
        n_init=1 if args.quick else 3,
    )
    print(result.table_)
    model = result.best_estimator_
    order = np.argsort(model.params_[:, 0])
    print(
        f"K = {result.n_components_}: weights {model.weights_[order].round(3)}, "
        f"means {model.params_[order, 0].round(3)}, kappas "
        f"{model.params_[order, 1].round(2)} (true {TRUE_WEIGHTS}, {TRUE_MEANS}, "
        f"{TRUE_KAPPAS})"
    )

    figure = plt.figure(figsize=(12, 6))
    rose = figure.add_subplot(1, 2, 1, projection="polar")
    bins = np.linspace(-np.pi, np.pi, 73)
    counts, _ = np.histogram(angles[:, 0], bins=bins, density=True)
    rose.bar(
        bins[:-1],
        counts,
        width=np.diff(bins),
        align="edge",
        color="lightgrey",
        edgecolor="white",
        label=f"{n_samples} directions",
    )
    grid = np.linspace(-np.pi, np.pi, 721)
    parts = component_densities(model, grid)
    for k in order:
        rose.plot(
            grid,
            parts[:, k],
            linewidth=1.5,
            label=f"mu {model.params_[k, 0]:+.2f}, kappa "
            f"{model.params_[k, 1]:.1f}, weight {model.weights_[k]:.2f}",
        )
    rose.plot(grid, parts.sum(axis=1), "k--", linewidth=1.5, label="mixture")
    rose.set_rlabel_position(112)  # between the components
    rose.set_title("Directions and the fitted von Mises mixture", pad=18)
    rose.legend(loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=2, fontsize=8)

    criteria = figure.add_subplot(1, 2, 2)
    result.plot(ax=criteria)
    criteria.set_title("AIC and BIC of CustomMixture(von Mises) by K")
    figure.tight_layout()
    save(figure, args.out, "custom_family")


if __name__ == "__main__":
    main()
