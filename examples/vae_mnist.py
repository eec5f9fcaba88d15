"""VAE on MNIST: the ELBO per epoch, reconstructions, samples, a 2-D latent map.

The EM tutorial ends with the variational autoencoder: EM whose E-step is an
encoder network learned along with the model. Two models are trained with
``emfast.VAE`` on binarised MNIST (``../shared/data/mnist`` beside the checkout,
or the folder named by ``EMFAST_MNIST``; scikit-learn's 8 x 8 digits if neither is
there):
a 20-dimensional one for the ELBO curve, reconstructions and samples, and a
2-dimensional one whose latent means are drawn coloured by digit.

    python examples/vae_mnist.py [--out DIR]
"""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _common import parse_args, save  # noqa: E402

from emfast import VAE  # noqa: E402
from emfast.datasets import load_mnist  # noqa: E402

MNIST = Path(
    os.environ.get(
        "EMFAST_MNIST",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist",
    )
)


def load(quick):
    """Binarised images, labels, image side, and where they came from."""
    if MNIST.is_dir():
        X, y, X_test, y_test = load_mnist(MNIST, binarize=True)
        rows = 6_000 if quick else 30_000
        return X[:rows], y[:rows], X_test[:2000], y_test[:2000], 28, "MNIST"
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = (digits.data / 16.0 > 0.5).astype(np.float32)
    return (
        X[:1500],
        digits.target[:1500],
        X[1500:],
        digits.target[1500:],
        8,
        ("scikit-learn digits"),
    )


def image_grid(ax, images, side, title, columns):
    rows = int(np.ceil(len(images) / columns))
    canvas = np.ones((rows * (side + 1), columns * (side + 1)))
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[
            r * (side + 1) : r * (side + 1) + side,
            c * (side + 1) : c * (side + 1) + side,
        ] = image.reshape(side, side)
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.axis("off")


def main():
    args = parse_args(__doc__.splitlines()[0])
    X, y, X_test, y_test, side, source = load(args.quick)
    epochs = 3 if args.quick else 10
    hidden = (200,) if side == 28 else (64,)
    vae = VAE(
        n_latent=20,
        hidden_layer_sizes=hidden,
        max_epochs=epochs,
        validation_fraction=0.1,
        random_state=0,
    ).fit(X)
    print(f"{source}: {len(X)} training images, test ELBO {vae.score(X_test):.2f}")

    figure, axes = plt.subplots(
        1, 3, figsize=(14, 4.5), gridspec_kw={"width_ratios": [1.2, 1, 1]}
    )
    history = vae.history_
    epochs_seen = np.arange(1, len(history["train_loss"]) + 1)
    axes[0].plot(epochs_seen, history["train_loss"], "o-", label="training")
    if history.get("val_loss"):
        axes[0].plot(epochs_seen, history["val_loss"], "s--", label="validation")
    axes[0].set_xlabel("epoch")
    axes[0].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes[0].set_ylabel("-ELBO per image (nats)")
    axes[0].set_title(f"VAE on {source}: the ELBO climbs")
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    originals = X_test[:8]
    image_grid(
        axes[1],
        np.vstack([originals, vae.reconstruct(originals)]),
        side,
        "test images (top) and reconstructions (bottom)",
        8,
    )
    # decoder means (pixel probabilities) read better than binary draws
    image_grid(
        axes[2], vae.sample(24, mean=True), side, "samples from the prior (means)", 6
    )
    figure.tight_layout()
    save(figure, args.out, "vae_mnist")

    flat = VAE(
        n_latent=2, hidden_layer_sizes=hidden, max_epochs=epochs, random_state=0
    ).fit(X)
    Z = flat.transform(X_test)
    figure, ax = plt.subplots(figsize=(7, 6))
    points = ax.scatter(
        Z[:, 0], Z[:, 1], c=y_test, cmap="tab10", vmin=-0.5, vmax=9.5, s=6, alpha=0.8
    )
    figure.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("latent mean z1")
    ax.set_ylabel("latent mean z2")
    ax.set_title(f"2-D latent space of {len(Z)} test images")
    figure.tight_layout()
    save(figure, args.out, "vae_latent_2d")


if __name__ == "__main__":
    main()
