"""VAE.sample: z ~ N(0, I), then draws from p(x | z) (or its means)."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from emfast.vae import VAE

SMALL = dict(n_latent=2, hidden_layer_sizes=(16,), batch_size=20, max_epochs=2)


def fitted(rng, likelihood, dtype=np.float32, in_unit_interval=False):
    if likelihood == "bernoulli":
        X = (rng.random((200, 6)) < 0.3).astype(np.float32)
    elif in_unit_interval:
        X = rng.random((200, 6))
    else:  # linear means on standardised data: features of very different scales
        X = rng.normal(size=(200, 6)) * [1e-3, 1.0, 5.0, 1e3, 2.0, 1.0] + 40.0
    vae = VAE(**SMALL, likelihood=likelihood, dtype=dtype, random_state=0)
    return vae.fit(X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli_draws(rng, dtype):
    vae = fitted(rng, "bernoulli", dtype)
    seed = int(rng.integers(2**31))
    draws = vae.sample(5, random_state=seed)
    # numpy reference: the same generator draws z, then one uniform per value
    generator = np.random.RandomState(seed)
    probabilities = vae.decode(generator.standard_normal((5, 2)))
    expected = generator.random_sample((5, 6)) < probabilities
    assert draws.dtype == dtype
    assert_array_equal(draws, expected.astype(dtype))
    assert_array_equal(vae.sample(5, mean=True, random_state=seed), probabilities)


def test_bernoulli_draws_have_the_decoder_probabilities(rng):
    vae = fitted(rng, "bernoulli")
    seed = int(rng.integers(2**31))
    n = 20_000
    probabilities = vae.sample(n, mean=True, random_state=seed).astype(np.float64)
    draws = vae.sample(n, random_state=seed)  # the same z
    assert set(np.unique(draws)) <= {0.0, 1.0}
    # per feature: sum of draws minus sum of probabilities, in standard errors
    z = (draws - probabilities).sum(axis=0) / np.sqrt(
        (probabilities * (1 - probabilities)).sum(axis=0)
    )
    assert np.all(np.abs(z) < 5), z


@pytest.mark.parametrize("in_unit_interval", [False, True], ids=["linear", "sigmoid"])
def test_gaussian_draws(rng, in_unit_interval):
    vae = fitted(rng, "gaussian", in_unit_interval=in_unit_interval)
    assert vae.sigmoid_mean_ == in_unit_interval
    seed = int(rng.integers(2**31))
    draws = vae.sample(4, random_state=seed)
    generator = np.random.RandomState(seed)
    means = vae.decode(generator.standard_normal((4, 2)))
    noise = generator.standard_normal((4, 6))
    expected = means + np.sqrt(vae.variance_) * noise
    assert draws.dtype == means.dtype
    np.testing.assert_allclose(draws, expected, rtol=1e-6 if in_unit_interval else 0)
    assert_array_equal(vae.sample(4, mean=True, random_state=seed), means)


def test_gaussian_draws_have_the_decoder_variances_in_data_units(rng):
    vae = fitted(rng, "gaussian")
    assert vae.scale_ is not None
    seed = int(rng.integers(2**31))
    n = 20_000
    means = vae.sample(n, mean=True, random_state=seed)
    standardized = (vae.sample(n, random_state=seed) - means) / np.sqrt(vae.variance_)
    # N(0, 1) per feature: mean within 5 standard errors, variance within 5
    # standard errors of a chi-square estimate
    assert np.all(np.abs(standardized.mean(axis=0)) < 5 / np.sqrt(n))
    assert np.all(np.abs(standardized.var(axis=0) - 1) < 5 * np.sqrt(2 / n))


def test_the_model_generator_advances(rng):
    vae = fitted(rng, "bernoulli")
    first = vae.sample(50, mean=True)
    second = vae.sample(50, mean=True)
    assert not np.array_equal(first, second)
    assert_array_equal(vae.sample(3, random_state=7), vae.sample(3, random_state=7))


def test_mean_and_random_state_are_keywords(rng):
    vae = fitted(rng, "bernoulli")
    with pytest.raises(TypeError):
        vae.sample(3, True)
