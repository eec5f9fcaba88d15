"""Bernoulli mixtures against a VAE on binarised MNIST: log-likelihood per test image.

A mixture of Bernoullis is a latent-variable model with a *discrete* latent
variable: each image comes from one of K prototypes (a probability per pixel).
The VAE has a *continuous* 20-dimensional latent space and a learned decoder
network. Both give a (bound on the) log-likelihood of held-out images:

- ``BernoulliMixture.score``: the exact mean ``log p(x)`` of the test images;
- ``VAE.score``: the mean ELBO, a lower bound on ``log p(x)``;
- ``VAE.log_likelihood``: an importance-weighted estimate of ``log p(x)``
  (IWAE), a tighter lower bound.

Even K = 100 prototypes stay far below the VAE's bound: the tutorial's point
that a continuous latent space with a learned decoder describes the digits
much better than a discrete one. The data are binarised MNIST
(``../shared/data/mnist`` beside the checkout, or the directory in
``EMFAST_MNIST``); scikit-learn's 8 x 8 digits if neither is there.

    python examples/bernoulli_mnist.py [--out DIR] [--quick]
"""

import os
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _common import parse_args, save  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from emfast import VAE, BernoulliMixture  # noqa: E402
from emfast.datasets import load_mnist  # noqa: E402

MNIST = Path(
    os.environ.get(
        "EMFAST_MNIST",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist",
    )
)


def load(quick):
    """Binarised training and test images, the image side, the source's name."""
    if MNIST.is_dir():
        X, _, X_test, _ = load_mnist(MNIST, binarize=True)
        rows = 6_000 if quick else 60_000
        return X[:rows], X_test[: 1000 if quick else 10_000], 28, "MNIST"
    from sklearn.datasets import load_digits

    X = (load_digits().data / 16.0 > 0.5).astype(np.float32)
    return X[:1500], X[1500:], 8, "scikit-learn digits"


def fit_mixtures(X, X_test, sizes, max_iter):
    """``{K: (fitted mixture, test log-likelihood per image, seconds)}``."""
    fits = {}
    for n_components in sizes:
        start = time.perf_counter()
        with warnings.catch_warnings():  # max_iter bounds the run time
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = BernoulliMixture(
                n_components,
                init_params="k-means++",
                max_iter=max_iter,
                random_state=0,
            ).fit(X)
        seconds = time.perf_counter() - start
        fits[n_components] = (model, model.score(X_test), seconds)
        print(
            f"BernoulliMixture K={n_components:3d}: test log p(x) "
            f"{fits[n_components][1]:8.2f} nats/image ({model.n_iter_} EM "
            f"iterations, {seconds:.0f} s)"
        )
    return fits


def fit_vae(X, X_test, side, epochs, n_importance):
    """The VAE's test ELBO, its IWAE estimate (first 1000 test images) and its
    latent dimension."""
    start = time.perf_counter()
    vae = VAE(
        n_latent=20 if side == 28 else 8,
        hidden_layer_sizes=(200,) if side == 28 else (64,),
        max_epochs=epochs,
        random_state=0,
    ).fit(X)
    elbo = vae.score(X_test)
    iwae = float(np.mean(vae.log_likelihood(X_test[:1000], n_importance)))
    seconds = time.perf_counter() - start
    print(
        f"VAE ({vae.n_latent}-d latent): test ELBO {elbo:8.2f}, IWAE log p(x) "
        f"{iwae:8.2f} ({n_importance} samples) nats/image ({epochs} epochs, "
        f"{seconds:.0f} s)"
    )
    return elbo, iwae, vae.n_latent


def image_grid(ax, images, side, columns):
    rows = int(np.ceil(len(images) / columns))
    canvas = np.ones((rows * (side + 1), columns * (side + 1)))
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        top, left = r * (side + 1), c * (side + 1)
        canvas[top : top + side, left : left + side] = image.reshape(side, side)
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1)
    ax.axis("off")


def draw(fits, elbo, iwae, n_latent, side, source):
    largest = max(fits)
    model = fits[largest][0]
    order = np.argsort(-model.weights_)
    figure, axes = plt.subplots(
        1, 2, figsize=(13, 5.6), gridspec_kw={"width_ratios": [1, 1.1]}
    )
    image_grid(axes[0], model.probabilities_[order], side, 10)
    axes[0].set_title(
        f"the {largest} prototypes of a Bernoulli mixture on {source}\n"
        "(pixel probabilities, by weight): a discrete latent variable",
        fontsize=10,
    )
    labels = [f"mixture\nK = {k}" for k in fits] + ["VAE\nELBO", "VAE\nIWAE"]
    values = [fits[k][1] for k in fits] + [elbo, iwae]
    colours = ["tab:blue"] * len(fits) + ["tab:orange", "tab:red"]
    bars = axes[1].bar(labels, values, color=colours)
    axes[1].bar_label(bars, fmt="%.1f", padding=3)
    axes[1].set_ylim(min(values) * 1.12, 0)
    axes[1].set_ylabel("test log-likelihood per image (nats, higher is better)")
    axes[1].set_title(
        "exact log p(x) of the mixtures; lower bounds on log p(x) of the VAE\n"
        f"({n_latent}-d continuous latent space, learned decoder)",
        fontsize=10,
    )
    axes[1].grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure


def main():
    args = parse_args(__doc__.splitlines()[0])
    X, X_test, side, source = load(args.quick)
    print(f"{source}: {len(X)} training and {len(X_test)} test images")
    sizes = (5, 10) if args.quick else (10, 50, 100)
    fits = fit_mixtures(X, X_test, sizes, max_iter=10 if args.quick else 100)
    epochs, n_importance = (1, 10) if args.quick else (10, 500)
    elbo, iwae, n_latent = fit_vae(X, X_test, side, epochs, n_importance)
    figure = draw(fits, elbo, iwae, n_latent, side, source)
    save(figure, args.out, "bernoulli_mnist")


if __name__ == "__main__":
    main()
