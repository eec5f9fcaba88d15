"""Where every parameter and activation of the VAE network lives.

:class:`NetworkLayout` turns the architecture (feature count, layer sizes,
latent size, activation, likelihood) into the int64 tables the kernels read
(:mod:`emfast.kernels.vae.network`), the size of the flat parameter vector and
the initial parameters; :func:`workspace` allocates the activation buffers of
one worker for a given number of rows.
"""

import math
from dataclasses import dataclass

import numpy as np

from emfast.kernels.vae.network import LIKELIHOODS
from emfast.kernels.vae.nn import ACTIVATIONS, IDENTITY


@dataclass(frozen=True)
class NetworkLayout:
    """Dense layers ``D -> encoder_sizes -> 2L`` and ``L -> decoder_sizes -> D``."""

    n_features: int
    n_latent: int
    encoder_sizes: tuple
    decoder_sizes: tuple
    activation: str
    likelihood: str

    @property
    def widths(self):
        """Input and output width of every dense layer, encoder first."""
        encoder = [self.n_features, *self.encoder_sizes, 2 * self.n_latent]
        decoder = [self.n_latent, *self.decoder_sizes, self.n_features]
        return list(zip(encoder[:-1], encoder[1:])) + list(
            zip(decoder[:-1], decoder[1:])
        )

    @property
    def n_encoder_layers(self):
        return len(self.encoder_sizes) + 1

    @property
    def slot_widths(self):
        """Activation slots: data, encoder outputs, z, decoder outputs."""
        encoder = [self.n_features, *self.encoder_sizes, 2 * self.n_latent]
        decoder = [self.n_latent, *self.decoder_sizes, self.n_features]
        return encoder + decoder

    @property
    def row_width(self):
        """Workspace entries per row (all slots)."""
        return sum(self.slot_widths)

    def layers(self):
        """The ``(n_layers, 7)`` int64 table of :mod:`emfast.kernels.vae.network`."""
        widths = self.widths
        n_enc = self.n_encoder_layers
        slot_offsets = np.cumsum([0, *self.slot_widths])
        table = np.zeros((len(widths), 7), dtype=np.int64)
        offset = 0
        for layer, (n_in, n_out) in enumerate(widths):
            last_of_part = layer == n_enc - 1 or layer == len(widths) - 1
            # slots: the encoder's layer l reads slot l; after the encoder
            # output comes the z slot, so decoder layers read slot l + 1
            in_slot = layer if layer < n_enc else layer + 1
            table[layer] = (
                n_in,
                n_out,
                offset,
                offset + n_in * n_out,
                IDENTITY if last_of_part else ACTIVATIONS[self.activation],
                slot_offsets[in_slot],
                slot_offsets[in_slot + 1],
            )
            offset += n_in * n_out + n_out
        return table

    @property
    def n_network_params(self):
        return sum(n_in * n_out + n_out for n_in, n_out in self.widths)

    @property
    def var_offset(self):
        """Offset of the Gaussian variance parameters (after the network's)."""
        return self.n_network_params

    @property
    def n_params(self):
        extra = self.n_features if self.likelihood == "gaussian" else 0
        return self.n_network_params + extra

    def config(self, max_rows, sigmoid_mean):
        """The int64 ``config`` vector of the kernels for ``max_rows`` rows."""
        return np.array(
            [
                self.n_encoder_layers,
                self.n_latent,
                LIKELIHOODS[self.likelihood],
                int(sigmoid_mean),
                self.var_offset,
                max_rows,
            ],
            dtype=np.int64,
        )

    def init_params(self, random_state, dtype, log_variance=0.0):
        """Initial flat parameters: PyTorch's ``nn.Linear`` default.

        Weights and biases are drawn from ``U(-1/sqrt(n_in), 1/sqrt(n_in))``;
        Gaussian variance parameters start at ``log_variance``.
        """
        theta = np.empty(self.n_params, dtype=dtype)
        offset = 0
        for n_in, n_out in self.widths:
            bound = 1.0 / math.sqrt(n_in)
            size = n_in * n_out + n_out
            theta[offset : offset + size] = random_state.uniform(-bound, bound, size)
            offset += size
        theta[offset:] = log_variance
        return theta

    def split(self, theta):
        """``[(weights, bias), ...]`` views of a flat parameter vector."""
        out = []
        for row in self.layers():
            n_in, n_out, w0, b0 = (int(v) for v in row[:4])
            out.append(
                (
                    theta[w0 : w0 + n_in * n_out].reshape(n_in, n_out),
                    theta[b0 : b0 + n_out],
                )
            )
        return out


def workspace(layout, max_rows, dtype, n_workers=None):
    """Activation, gradient, noise, work and nonzero-list buffers for ``max_rows`` rows.

    With ``n_workers``, every array gets a leading worker axis (one workspace per
    parallel task, for the inference kernels).
    """
    lead = () if n_workers is None else (n_workers,)
    return dict(
        acts=np.zeros(lead + (max_rows * layout.row_width,), dtype=dtype),
        grads_act=np.zeros(lead + (max_rows * layout.row_width,), dtype=dtype),
        noise=np.zeros(lead + (max_rows * layout.n_latent + 1,), dtype=dtype),
        work=np.zeros(lead + (4 * layout.n_features,), dtype=dtype),
        rows64=np.zeros(lead + (2 * max_rows,), dtype=np.float64),
        # nonzero lists of a minibatch (emfast.kernels.vae.network.sparse_lists)
        sparse=np.zeros(
            lead
            + (max_rows + layout.n_features + 2 + 2 * max_rows * layout.n_features,),
            dtype=np.int64,
        ),
    )
