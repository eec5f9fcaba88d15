"""numba kernels of the VAE trainer: dense and sparse layers, activations,
the reparameterised latent layer, decoder likelihoods, optimiser steps, and the
fused minibatch training and evaluation loops built from them.

Independent of the mixture kernels: nothing here imports them, nor they this;
both use the shared ``exp`` of :mod:`emfast.kernels.fastexp`.
"""
