"""Hidden checks of the VAE pieces both assignments share, ``reparameterize`` and
``kl_divergence`` (the public ones are in :mod:`aekit.checks.vae`). Never shipped to students."""

import functools
import math

import torch

from aekit.checks.compare import (
    PASS,
    STATISTICAL_Z,
    Verdict,
    expect_close,
    fail,
    first_failure,
    is_close,
)
from aekit.checks.core import Bench, Check, Mismatch, tensor
from aekit.checks.fixtures import gradient_of, run_on_meta
from autograder.hidden.families import HiddenCheck, MatchesReference

# --- reparameterize --------------------------------------------------------------------------


class ReparameterizeFreshNoise(HiddenCheck):
    exercise = "reparameterize"
    title = "draws fresh noise at every call and for every element"

    def probe(self, bench: Bench) -> dict:
        mu, logvar = torch.zeros(4, 3, device=bench.device), torch.zeros(4, 3, device=bench.device)
        bench.reseed()
        first = tensor(bench.get()(mu, logvar), "z")
        second = tensor(bench.get()(mu, logvar), "z")
        return {"first": first, "second": second}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        first, second = seen["first"], seen["second"]
        if torch.equal(first, second):
            return fail(
                "Two calls returned the same z: draw new noise inside the function at every call."
            )
        if torch.equal(first[0], first[1]) or torch.equal(first[:, 0], first[:, 1]):
            return fail(
                "Rows or columns of z are equal: draw one independent eps per element, eps = torch.randn_like(mu)."
            )
        return PASS


class ReparameterizeExactForm(HiddenCheck):
    exercise = "reparameterize"
    title = "is exactly mu + exp(logvar / 2) · eps"

    def probe(self, bench: Bench) -> dict:
        mu = bench.randn(6, 3, dtype=torch.float64)
        logvars = [bench.randn(6, 3, dtype=torch.float64) for _ in range(2)]
        seen = {"mu": mu}
        for index, logvar in enumerate(logvars):
            bench.reseed()  # the same noise for both calls
            seen[f"z{index}"] = tensor(bench.get()(mu, logvar), "z")
            seen[f"logvar{index}"] = logvar
        return seen

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        mu = seen["mu"]
        noise = [(seen[f"z{i}"] - mu) / torch.exp(0.5 * seen[f"logvar{i}"]) for i in range(2)]
        if is_close(noise[0], noise[1]):
            return PASS
        as_std = [(seen[f"z{i}"] - mu) / torch.exp(seen[f"logvar{i}"]) for i in range(2)]
        if is_close(as_std[0], as_std[1]):
            return fail(
                "You scaled eps by exp(logvar), the variance: the standard deviation is exp(logvar / 2)."
            )
        return fail(
            "With the same noise, (z - mu) / exp(logvar / 2) should not depend on logvar: "
            "compute z = mu + torch.exp(0.5 * logvar) * eps."
        )


class ReparameterizeGradients(HiddenCheck):
    exercise = "reparameterize"
    title = "passes gradients to mu and logvar (dz/dmu = 1, dz/dlogvar = (z - mu) / 2)"

    def probe(self, bench: Bench) -> dict:
        mu = bench.randn(5, 2, dtype=torch.float64).requires_grad_()
        logvar = bench.randn(5, 2, dtype=torch.float64).requires_grad_()
        bench.reseed()
        z = tensor(bench.get()(mu, logvar), "z")
        if not z.requires_grad:
            raise Mismatch(
                "z carries no gradient: build it from mu and logvar with torch operations."
            )
        z.sum().backward()
        mu_grad, logvar_grad = gradient_of(mu), gradient_of(logvar)
        return {"z": z, "mu": mu, "mu_grad": mu_grad, "logvar_grad": logvar_grad}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for name in ("mu", "logvar"):
            if seen[f"{name}_grad"].numel() == 0:
                return fail(
                    f"No gradient reaches {name}: do not detach it or sample with torch.normal."
                )
        return first_failure(
            expect_close(seen["mu_grad"], torch.ones_like(seen["mu"]), "dz/dmu"),
            expect_close(
                seen["logvar_grad"],
                0.5 * (seen["z"] - seen["mu"]),
                "dz/dlogvar",
                otherwise="z must be mu + exp(0.5 * logvar) * eps with eps independent of mu and logvar.",
            ),
        )


class ReparameterizeShapes(HiddenCheck):
    exercise = "reparameterize"
    title = "works for any shape: (D,), (N, D) and (N, C, D)"

    def probe(self, bench: Bench) -> dict:
        cases = []
        for shape in ((3,), (4, 3), (2, 5, 3)):
            bench.reseed()
            z = tensor(bench.get()(bench.randn(*shape), bench.randn(*shape)), "z")
            cases.append([list(shape), list(z.shape)])
        return {"cases": cases}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for want, found in seen["cases"]:
            if found != want:
                return fail(
                    f"For mu of shape {tuple(want)} z has shape {tuple(found)}: use torch.randn_like(mu)."
                )
        return PASS


# --- kl_divergence ---------------------------------------------------------------------------


def kl_mistakes(inputs: list, want: torch.Tensor) -> list:
    return [
        (-want, "your KL is negative: check the sign."),
        (2 * want, "the closed form has a factor ½."),
        (want / 4, "sum over the latent dimensions instead of averaging them."),
    ]


@functools.cache  # the same for every submission: drawn once per batch
def monte_carlo_kl(seed: int, mus: tuple, logvars: tuple) -> tuple[float, float]:
    """E_q[log q(z) - log p(z)] estimated from 400,000 samples of q = N(mus, exp(logvars)), and
    the estimate's standard error. The judge draws its own samples: no reference needed."""
    generator = torch.Generator().manual_seed(seed)
    mu = torch.tensor(mus, dtype=torch.float64)
    std = torch.exp(0.5 * torch.tensor(logvars, dtype=torch.float64))
    z = mu + std * torch.randn(400_000, len(mus), generator=generator, dtype=torch.float64)
    log_ratio = (-0.5 * ((z - mu) / std) ** 2 - torch.log(std) + 0.5 * z**2).sum(dim=1)
    return float(log_ratio.mean()), float(log_ratio.std()) / math.sqrt(len(log_ratio))


class KlMonteCarlo(HiddenCheck):
    exercise = "kl_divergence"
    title = "agrees with a Monte Carlo estimate of E_q[log q(z) - log p(z)]"

    def probe(self, bench: Bench) -> dict:
        mu = torch.tensor([[0.5, -1.0, 0.0]], dtype=torch.float64, device=bench.device)
        logvar = torch.tensor([[-0.5, 0.3, 1.0]], dtype=torch.float64, device=bench.device)
        return {"kl": tensor(bench.get()(mu, logvar), "the KL"), "mu": mu, "logvar": logvar}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        estimate, error = monte_carlo_kl(
            self.seed, tuple(seen["mu"][0].tolist()), tuple(seen["logvar"][0].tolist())
        )
        kl = seen["kl"].reshape(-1)
        if kl.numel() != 1:
            return fail(f"For one sample the KL has {kl.numel()} values; expected one.")
        if not torch.isfinite(kl[0]) or (kl[0] - estimate).abs() > STATISTICAL_Z * error + 1e-3:
            return fail(
                f"Your KL is {kl[0]:.4f}; a Monte Carlo estimate gives {estimate:.4f} ± {error:.4f}. "
                "Check the closed form against the definition E_q[log q(z) - log p(z)]."
            )
        return PASS


class KlGradientsAndDevice(HiddenCheck):
    exercise = "kl_divergence"
    title = "sends gradients to mu and logvar and runs on any device"

    def probe(self, bench: Bench) -> dict:
        mu = bench.randn(3, 2, dtype=torch.float64).requires_grad_()
        logvar = bench.randn(3, 2, dtype=torch.float64).requires_grad_()
        tensor(bench.get()(mu, logvar), "the KL").sum().backward()
        device = run_on_meta(
            bench.get(),
            lambda device: (torch.zeros(3, 2, device=device), torch.zeros(3, 2, device=device)),
            "the KL",
        )
        mu_grad, logvar_grad = gradient_of(mu), gradient_of(logvar)
        return {
            "mu": mu,
            "logvar": logvar,
            "mu_grad": mu_grad,
            "logvar_grad": logvar_grad,
            "device": device,
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for name in ("mu", "logvar"):
            if seen[f"{name}_grad"].numel() == 0:
                return fail(
                    f"No gradient reaches {name}: build the KL from it with torch operations."
                )
        verdict = first_failure(
            expect_close(seen["mu_grad"], seen["mu"], "dKL/dmu", otherwise="It should equal mu."),
            expect_close(
                seen["logvar_grad"],
                0.5 * (seen["logvar"].exp() - 1),
                "dKL/dlogvar",
                otherwise="It should be (exp(logvar) - 1) / 2.",
            ),
        )
        if verdict.passed and seen["device"]["device"] != seen["device"]["inputs"]:
            return fail("The KL is not on its inputs' device: build it from mu and logvar only.")
        return verdict


# The checks by id (see aekit.checks.core.identified), listed by both assignments.
TABLE: dict[str, Check] = {
    "reparam-fresh-noise": ReparameterizeFreshNoise(),
    "reparam-exact-form": ReparameterizeExactForm(),
    "reparam-gradients": ReparameterizeGradients(),
    "reparam-shapes": ReparameterizeShapes(),
    "kl-values": MatchesReference(
        exercise="kl_divergence",
        title="matches the closed form on random inputs (float64)",
        inputs=lambda bench: (
            bench.randn(7, 4, dtype=torch.float64),
            bench.randn(7, 4, dtype=torch.float64),
        ),
        result="the KL",
        what="On random inputs the KL",
        mistakes=kl_mistakes,
        otherwise="KL = -½ Σ_j (1 + logvar_j - mu_j² - exp(logvar_j)); logvar is log σ², not log σ.",
    ),
    "kl-monte-carlo": KlMonteCarlo(),
    "kl-gradients-device": KlGradientsAndDevice(),
}
