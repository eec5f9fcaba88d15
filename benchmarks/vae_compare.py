"""emfast's VAE against the same model in PyTorch, side by side in one process.

The recipe of Kingma & Welling (2014) on binarised MNIST: 784-400-20 (ReLU),
Bernoulli decoder, Adam(lr=1e-3), minibatches of 100, float32, the loss
``mean_i -ELBO_i`` with one reparameterised sample. Epochs alternate between
emfast and PyTorch so that load from other processes on the machine hits both
alike; the figure that matters is the ratio of samples/s, then the test -ELBO
after the last epoch (one sample per test row) and the importance-weighted
estimate of log p(x) (IWAE bound, ``--n-importance`` samples per row).

PyTorch is a benchmark-only dependency, imported inside the PyTorch part (its
model is built before emfast runs anything: importing torch after numba's
OpenMP runtime is loaded makes PyTorch 4x slower on a 2-core x86-64 machine).
The CPU build of torch, from PyTorch's CPU index::

    pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

Usage::

    python benchmarks/vae_compare.py                       # 10 epochs, 2 threads
    python benchmarks/vae_compare.py --epochs 1 --train-rows 10000 --iwae-rows 100
    python benchmarks/vae_compare.py --no-torch            # emfast only

MNIST is read from ``--data`` (default ``$EMFAST_MNIST`` or
``../shared/data/mnist`` beside the checkout): the four standard gzip'd idx
files, nothing is downloaded.
"""

import argparse
import math
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = os.environ.get(
    "EMFAST_MNIST", str(HERE.parent.parent / "shared" / "data" / "mnist")
)
RECIPE = dict(
    n_latent=20,
    hidden_layer_sizes=(400,),
    activation="relu",
    likelihood="bernoulli",
    batch_size=100,
    optimizer="adam",
    learning_rate=1e-3,
    dtype=np.float32,
)


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_pressure():
    """Linux PSI: how often runnable tasks waited for a CPU (other load)."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return "CPU pressure " + " ".join(line.split()[1:3])
    except (OSError, IndexError):
        return "CPU pressure n/a"


# ---------------------------------------------------------------------- emfast


class EmfastRunner:
    name = "emfast"

    def __init__(self, threads, seed):
        from emfast.vae import VAE

        self.model = VAE(**RECIPE, n_jobs=threads, random_state=seed, verbose=False)
        # compile (or load from numba's cache) outside the timed epochs
        warm = (np.random.default_rng(0).random((300, 784)) < 0.2).astype(np.float32)
        VAE(**RECIPE, n_jobs=threads, random_state=0, verbose=False).partial_fit(warm)

    def epoch(self, X):
        self.model.partial_fit(X)
        return self.model.history_["seconds"][-1], self.model.history_["train_loss"][-1]

    def test_nelbo(self, X):
        return -self.model.score(X)

    def log_likelihood(self, X, n_importance):
        return float(np.mean(self.model.log_likelihood(X, n_importance)))


# --------------------------------------------------------------------- PyTorch


class TorchRunner:
    """The same network and loss in PyTorch (imported here only)."""

    name = "pytorch"

    def __init__(self, threads, seed):
        import torch
        from torch import nn

        self.torch = torch
        torch.set_num_threads(threads)
        torch.manual_seed(seed)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.enc1 = nn.Linear(784, 400)
                self.enc2 = nn.Linear(400, 40)  # [mu, log_var], as in emfast
                self.dec1 = nn.Linear(20, 400)
                self.dec2 = nn.Linear(400, 784)

            def encode(self, x):
                return self.enc2(torch.relu(self.enc1(x))).chunk(2, dim=1)

            def decode(self, z):
                return self.dec2(torch.relu(self.dec1(z)))

        self.net = Net()
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.generator = torch.Generator().manual_seed(seed)

    def _nelbo_rows(self, x):
        torch = self.torch
        mu, log_var = self.net.encode(x)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        logits = self.net.decode(z)
        nll = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, x, reduction="none"
        ).sum(dim=1)
        kl = 0.5 * (mu.pow(2) + log_var.exp() - log_var - 1).sum(dim=1)
        return nll + kl

    def epoch(self, X):
        torch = self.torch
        X = torch.from_numpy(X)
        order = torch.randperm(len(X), generator=self.generator)
        total = 0.0
        start = time.perf_counter()
        for first in range(0, len(X), 100):
            x = X[order[first : first + 100]]
            self.optimizer.zero_grad()
            loss = self._nelbo_rows(x).mean()
            loss.backward()
            self.optimizer.step()
            total += loss.item() * len(x)
        return time.perf_counter() - start, total / len(X)

    def test_nelbo(self, X):
        with self.torch.no_grad():
            return float(self._nelbo_rows(self.torch.from_numpy(X)).mean())

    def log_likelihood(self, X, n_importance, chunk=500):
        torch = self.torch
        out = []
        with torch.no_grad():
            for row in torch.from_numpy(X):
                mu, log_var = self.net.encode(row[None])
                log_weights = []
                for k0 in range(0, n_importance, chunk):
                    eps = torch.randn(min(chunk, n_importance - k0), mu.shape[1])
                    z = mu + torch.exp(0.5 * log_var) * eps
                    logits = self.net.decode(z)
                    log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
                        logits, row.expand_as(logits), reduction="none"
                    ).sum(dim=1)
                    log_ratio = 0.5 * (eps.pow(2) + log_var - z.pow(2)).sum(dim=1)
                    log_weights.append(log_px + log_ratio)
                log_weights = torch.cat(log_weights).double()
                out.append(
                    float(torch.logsumexp(log_weights, 0)) - math.log(n_importance)
                )
        return float(np.mean(out))


# ------------------------------------------------------------------------ main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--train-rows",
        type=int,
        default=None,
        help="train on the first rows only (quick runs)",
    )
    parser.add_argument(
        "--iwae-rows",
        type=int,
        default=1000,
        help="test rows for the IWAE estimate (0: skip)",
    )
    parser.add_argument("--n-importance", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args(argv)

    import numba

    from emfast.datasets import load_mnist

    X_train, _, X_test, _ = load_mnist(args.data, binarize=True)
    if args.train_rows:
        X_train = X_train[: args.train_rows]
    torch_runner = None if args.no_torch else TorchRunner(args.threads, args.seed)
    numba.set_num_threads(args.threads)
    runners = [EmfastRunner(args.threads, args.seed)]
    if torch_runner is not None:
        runners.append(torch_runner)

    print(
        f"machine: {cpu_name()}, {os.cpu_count()} CPUs; threads: {args.threads}; "
        f"float32; train {X_train.shape[0]} x {X_train.shape[1]}, "
        f"test {X_test.shape[0]}; batch 100; Adam 1e-3; {cpu_pressure()}"
    )
    rates = {runner.name: [] for runner in runners}
    for epoch in range(1, args.epochs + 1):
        line = [f"epoch {epoch:2d}"]
        # alternate which side goes first, so neither always follows the other
        for runner in runners if epoch % 2 else runners[::-1]:
            seconds, loss = runner.epoch(X_train)
            rates[runner.name].append(X_train.shape[0] / seconds)
        for runner in runners:
            line.append(f"{runner.name} {rates[runner.name][-1]:9,.0f} samples/s")
        if len(runners) == 2:
            line.append(f"ratio {rates['emfast'][-1] / rates['pytorch'][-1]:.2f}")
        print("  ".join(line), flush=True)

    print()
    print(
        f"{'':8s} {'samples/s (median)':>19s} {'test -ELBO':>11s} "
        f"{'IWAE log p(x)':>14s}"
    )
    medians = {}
    for runner in runners:
        medians[runner.name] = statistics.median(rates[runner.name])
        test_nelbo = runner.test_nelbo(X_test)
        iwae = ""
        if args.iwae_rows:
            start = time.perf_counter()
            value = runner.log_likelihood(X_test[: args.iwae_rows], args.n_importance)
            iwae = f"{value:14.2f} ({time.perf_counter() - start:.0f} s)"
        print(
            f"{runner.name:8s} {medians[runner.name]:19,.0f} {test_nelbo:11.2f} {iwae}",
            flush=True,
        )
    if len(runners) == 2:
        print(
            f"\nemfast / PyTorch samples/s: "
            f"{medians['emfast'] / medians['pytorch']:.2f}x (median of per-epoch "
            f"rates; per-epoch ratios above)"
        )
    if args.iwae_rows:
        print(
            f"IWAE: {args.n_importance} importance samples on the first "
            f"{args.iwae_rows} test rows"
        )
    print(f"at the end: {cpu_pressure()}")


if __name__ == "__main__":
    main()
