"""Public checks of the VAE pieces both assignments share, ``reparameterize`` and
``kl_divergence``: one contract (docs/contract.md), so one set of checks, listed by both. Also
the typical mistakes with the terms of a VAE's loss, which the forward-pass checks of both
assignments, public and hidden, name."""

import math

import torch

from aekit.checks.compare import PASS, STATISTICAL_Z, Verdict, fail
from aekit.checks.core import Bench, Check, tensor
from aekit.checks.families import KeepsDevice, KnownValue, PerSample

# --- reparameterize --------------------------------------------------------------------------


def float64_zeros(bench: Bench, device: torch.device) -> tuple:
    return tuple(torch.zeros(3, 4, dtype=torch.float64, device=device) for _ in range(2))


class NoiseLikeMu(KeepsDevice):
    """z keeps mu's shape, dtype and device: the messages name torch.randn_like."""

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != list(self.shape):
            return fail(self.wrong_shape.format(found=tuple(seen["shape"])))
        if seen["dtype"] != "torch.float64":
            return fail(
                f"For float64 inputs z is {seen['dtype']}: draw the noise with torch.randn_like(mu) "
                "so it takes mu's dtype and device."
            )
        if seen["device"] != seen["inputs"]:
            return fail(
                f"z is on {seen['device']} while mu is on {seen['inputs']}: use torch.randn_like(mu)."
            )
        return PASS


def sample_moments(bench: Bench, count: int = 100_000) -> dict:
    """Mean and variance of ``count`` samples z for mu = (1.5, -2), logvar = (0, ln 4)."""
    mu = (
        torch.tensor([1.5, -2.0], dtype=torch.float64, device=bench.device)
        .expand(count, 2)
        .contiguous()
    )
    logvar = torch.tensor([0.0, math.log(4.0)], dtype=torch.float64, device=bench.device)
    logvar = logvar.expand(count, 2).contiguous()
    bench.reseed()
    z = tensor(bench.get()(mu, logvar), "z").to(torch.float64)
    return {"mean": z.mean(dim=0), "var": z.var(dim=0), "count": count}


class ReparameterizeMoments(Check):
    exercise = "reparameterize"
    title = "samples have mean mu and variance exp(logvar)"

    def probe(self, bench: Bench) -> dict:
        seen = sample_moments(bench)
        mu, logvar = torch.zeros(8, 2, dtype=torch.float64), torch.zeros(8, 2, dtype=torch.float64)
        first, second = (tensor(bench.get()(mu, logvar), "z") for _ in range(2))
        return seen | {"fresh": not torch.equal(first, second)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if not seen["fresh"]:
            return fail(
                "Two calls with the same mu and logvar gave the same z: draw new noise at every "
                "call (torch.randn_like(mu)), without seeding the generator inside reparameterize."
            )
        return judge_moments(seen)


def judge_moments(seen: dict) -> Verdict:
    """Compare sample moments with mu = (1.5, -2), variance (1, 4), within 6 standard errors."""
    count, mean, var = seen["count"], seen["mean"], seen["var"]
    if mean.shape != (2,) or var.shape != (2,):
        return fail("z should have mu's shape.")

    def variance_is(*target: float) -> bool:
        target = torch.tensor(target, dtype=torch.float64)
        return bool(((var - target).abs() <= target * math.sqrt(2.0 / count) * STATISTICAL_Z).all())

    if variance_is(1.0, 16.0):
        return fail(
            f"Variances {_rounded(var)} for logvar = (0, ln 4): you used exp(logvar) as the standard "
            "deviation. The std is exp(logvar / 2)."
        )
    if variance_is(1 / 12, 1 / 12) or variance_is(1 / 12, 4 / 12):
        return fail(
            "The noise looks uniform (variance 1/12): draw eps with torch.randn_like, not torch.rand_like."
        )
    want_mean = torch.tensor([1.5, -2.0], dtype=torch.float64)
    standard_errors = (torch.tensor([1.0, 4.0]) / count).sqrt()
    if ((mean - want_mean).abs() > standard_errors * STATISTICAL_Z).any():
        return fail(f"The samples' mean is {_rounded(mean)}, expected mu = (1.5, -2).")
    if not variance_is(1.0, 4.0):
        return fail(
            f"The samples' variance is {_rounded(var)}, expected exp(logvar) = (1, 4): "
            "z = mu + exp(logvar / 2) · eps with eps ~ N(0, I)."
        )
    return PASS


def _rounded(values: torch.Tensor) -> list[float]:
    return [round(value, 3) for value in values.tolist()]


# --- kl_divergence ---------------------------------------------------------------------------


def kl_at_prior(bench: Bench) -> tuple:
    zeros = torch.zeros(4, 3, device=bench.device)
    return zeros, zeros.clone()


def kl_known(bench: Bench) -> tuple:
    """mu = 2, logvar = 0 for the first sample, mu = 0, logvar = 1 for the second (3-D)."""
    mu = torch.tensor([[2.0, 2.0, 2.0], [0.0, 0.0, 0.0]], dtype=torch.float64, device=bench.device)
    logvar = torch.tensor(
        [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], dtype=torch.float64, device=bench.device
    )
    return mu, logvar


KL_PER_DIMENSION = torch.tensor([2.0, 0.5 * (math.e - 2.0)], dtype=torch.float64)
KL_KNOWN = 3 * KL_PER_DIMENSION


# --- the loss of a VAE's forward pass (vae_forward, cardiac_vae_forward) ---------------------

BETA_IGNORED = "beta is ignored: multiply the KL term by beta."


def beta_mistakes(
    recon: torch.Tensor, kl: torch.Tensor, beta: float, recon_name: str = ""
) -> list[tuple[torch.Tensor, str]]:
    """The loss (recon + beta · kl).mean() as typical mistakes compute it, each with what it
    means; with ``recon_name`` (the messages' name for recon) also beta weighing recon."""
    weighed = f"beta multiplies the {recon_name}; it weighs the KL term only."
    scaled = [((beta * recon + kl).mean(), weighed)] if recon_name else []
    return [
        (recon.mean(), "the KL term is missing: add beta * kl_divergence(mu, logvar)."),
        ((recon + kl).mean(), BETA_IGNORED),
        *scaled,
        ((recon - beta * kl).mean(), "the KL term is subtracted; the loss adds it."),
        ((recon + beta * kl).sum(), "you summed over the batch; take the mean."),
    ]


# The checks by id (see aekit.checks.core.identified), listed by both assignments.
TABLE: dict[str, Check] = {
    "reparam-device": NoiseLikeMu(
        exercise="reparameterize",
        title="keeps mu's shape, dtype and device (so it runs on a GPU too)",
        inputs=float64_zeros,
        shape=(3, 4),
        wrong_shape="z has shape {found}, expected mu's shape (3, 4).",
        result="z",
        subject="z",
    ),
    "reparam-moments": ReparameterizeMoments(),
    "kl-per-sample": PerSample(
        exercise="kl_divergence",
        inputs=lambda bench: (bench.randn(5, 3), bench.randn(5, 3, scale=0.5)),
        count=5,
        what="For 5 samples of a 3-D latent the KL",
        result="the KL",
    ),
    "kl-at-prior": KnownValue(
        exercise="kl_divergence",
        title="is 0 when mu = 0 and logvar = 0 (q is the prior)",
        inputs=kl_at_prior,
        expected=torch.zeros(4),
        what="KL(N(0, I) ‖ N(0, I))",
        result="the KL",
        otherwise="It must be 0: check the constant term, -½ Σ (1 + logvar - mu² - exp(logvar)).",
    ),
    "kl-known-values": KnownValue(
        exercise="kl_divergence",
        title="gives 2 per dimension for mu = 2, logvar = 0 and 0.359 for mu = 0, logvar = 1",
        inputs=kl_known,
        expected=KL_KNOWN,
        what="For mu = 2, logvar = 0 and for mu = 0, logvar = 1 (3 latent dimensions) the KL",
        result="the KL",
        mistakes=[
            (
                -KL_KNOWN,
                "your KL is negative: check the sign. KL = -½ Σ (1 + logvar - mu² - exp(logvar)) ≥ 0.",
            ),
            (2 * KL_KNOWN, "it is twice too large: the closed form has a factor ½."),
            (KL_PER_DIMENSION, "sum over the latent dimensions instead of averaging them."),
        ],
    ),
}
