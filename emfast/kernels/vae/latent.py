"""The latent layer: Gaussian noise, reparameterisation, KL to N(0, I), gradients.

Noise comes from a counter-based generator: the ``k``-th standard normal of a
stream is a pure function of ``(key, k)`` (a 32-bit integer hash of the 64-bit
index, two uniforms, Box-Muller). No generator state is carried between calls
or threads, so any chunk of rows can draw its noise on any thread and the
draws (hence fits) do not depend on the thread count; a model pickles with two
integers (key, next index) instead of per-thread states. The hash works on
int64 values masked to 32 bits, which numba and plain Python compute alike.

Evaluation (ELBO and importance-weighted scores) keys each row's stream by the
row's values (:func:`row_key`), so a row's score does not depend on its
position or on the other rows scored with it.

The encoder's last layer outputs ``[mu, log_var]`` side by side (one GEMM);
``z = mu + exp(log_var / 2) * eps`` and
``KL(q || N(0, I)) = 0.5 sum(mu**2 + exp(log_var) - log_var - 1)``.
"""

import math

import numpy as np

from emfast._numba import jit

_MASK32 = 0xFFFFFFFF
_TWO_PI = 2.0 * math.pi
_INV_2_32 = 1.0 / 4294967296.0
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


@jit
def _mix32(h):
    # murmur3's fmix32: a bijection of 32-bit integers with full avalanche;
    # int() keeps plain Python (NUMBA_DISABLE_JIT) on exact integers
    h = int(h) & _MASK32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK32
    h ^= h >> 16
    return h


@jit
def uniform_at(key, index):
    """A uniform in (0, 1), float64, as a pure function of ``(key, index)``."""
    high = _mix32((index >> 32) ^ _mix32(key + 0x9E3779B9))
    h = _mix32(_mix32((index & _MASK32) ^ _mix32(key)) + high)
    return (h + 0.5) * _INV_2_32


@jit
def row_key(row, key):
    """A 32-bit stream key: a hash of ``key`` and the bits of the 1-D ``row``.

    FNV-1a over the row's 32-bit words, then murmur3's finaliser. Each FNV
    step (xor, then a multiplication by an odd number modulo 2**32) is a
    bijection, so rows that differ in one value never share a key. ``row``
    must be C-contiguous (float32 or float64).
    """
    words = row.view(np.uint32)
    h = _mix32(key) ^ _FNV_OFFSET
    for j in range(words.shape[0]):
        h = ((h ^ int(words[j])) * _FNV_PRIME) & _MASK32
    return _mix32(h)


@jit
def fill_normal(out, key, first_index):
    """Fill the 1-D ``out`` with the standard normals ``first_index, ...``.

    Normals come in Box-Muller pairs ``2p, 2p + 1`` from uniforms with those
    indices, so ``first_index`` should be even for streams to line up.
    """
    n = out.shape[0]
    for p in range(0, n, 2):
        u1 = uniform_at(key, first_index + p)
        u2 = uniform_at(key, first_index + p + 1)
        radius = math.sqrt(-2.0 * math.log(u1))
        angle = _TWO_PI * u2
        out[p] = radius * math.cos(angle)
        if p + 1 < n:
            out[p + 1] = radius * math.sin(angle)


@jit
def keyed_noise(noise, rows, n_latent, key):
    """``(n_rows, L)`` standard normals in ``noise``; row ``i``'s are the first
    ``L`` of the stream keyed by ``row_key(rows[i], key)``."""
    n_rows = rows.shape[0]
    block = noise[: n_rows * n_latent].reshape((n_rows, n_latent))
    for i in range(n_rows):
        fill_normal(block[i], row_key(rows[i], key), 0)
    return block


@jit
def latent_forward(encoded, noise, z, kl_rows):
    """``z = mu + exp(log_var / 2) * noise``; ``kl_rows[i] = KL(q_i || N(0, I))``.

    ``encoded`` is ``(n, 2 L)`` with ``mu`` in the first ``L`` columns and
    ``log_var`` in the last; ``kl_rows`` is float64.
    """
    dtype = z.dtype.type
    half = dtype(0.5)
    one = dtype(1)
    n_rows, n_latent = z.shape
    for i in range(n_rows):
        kl = 0.0
        for j in range(n_latent):
            mu = encoded[i, j]
            log_var = encoded[i, n_latent + j]
            std = math.exp(half * log_var)
            z[i, j] = mu + std * noise[i, j]
            kl += mu * mu + std * std - log_var - one
        kl_rows[i] = 0.5 * kl


@jit
def latent_backward(encoded, noise, grad_z, grad_encoded, kl_scale):
    """Gradient w.r.t. ``[mu, log_var]`` of (loss through ``z``) + ``kl_scale * KL``.

    ``d/dmu = dz + kl_scale mu``;
    ``d/dlog_var = dz noise std / 2 + kl_scale (exp(log_var) - 1) / 2``.
    """
    dtype = grad_z.dtype.type
    half = dtype(0.5)
    one = dtype(1)
    scale = dtype(kl_scale)
    n_rows, n_latent = grad_z.shape
    for i in range(n_rows):
        for j in range(n_latent):
            mu = encoded[i, j]
            std = math.exp(half * encoded[i, n_latent + j])
            grad_encoded[i, j] = grad_z[i, j] + scale * mu
            grad_encoded[i, n_latent + j] = half * grad_z[i, j] * noise[
                i, j
            ] * std + half * scale * (std * std - one)
