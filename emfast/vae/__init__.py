"""Variational autoencoder trained with emfast's numba kernels (see :class:`VAE`)."""

from emfast.vae._training import DivergenceError
from emfast.vae.estimator import VAE

__all__ = ["VAE", "DivergenceError"]
