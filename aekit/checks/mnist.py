"""Public checks of the ``mnist_autoencoders`` exercises.

Students run these from the notebook for instant feedback. They test the contract of
docs/contract.md through shapes, structure, identities, known values and consistency
with the student's own pieces; they need no reference solution. The autograder runs them too,
beside its hidden checks.
"""

import math

import torch

from aekit.checks.compare import PASS, Verdict, expect_close, expect_shape, fail
from aekit.checks.core import Bench, Check, linear_layers, module, pair, tensor
from aekit.checks.fixtures import run_on_meta, seeded_autoencoder, seeded_vae

LN2 = math.log(2.0)


def layer_sizes(model) -> list[list[int]]:
    return [[layer.in_features, layer.out_features] for layer in linear_layers(model)]


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def expect_layers(seen: dict, expected: list[list[int]], count: int, what: str) -> Verdict:
    if seen["layers"] != expected:
        arrows = " → ".join(str(size[0]) for size in expected) + f" → {expected[-1][1]}"
        found = ", ".join(f"{a}→{b}" for a, b in seen["layers"]) or "none"
        return fail(f"{what} should chain Linear layers {arrows}; found Linear layers {found}.")
    if seen["parameters"] != count:
        return fail(
            f"{what} has {seen['parameters']:,} parameters, expected {count:,}: "
            "only the Linear layers of the contract should hold parameters."
        )
    return PASS


# --- make_encoder / make_decoder -----------------------------------------------------------


class EncoderShape(Check):
    exercise = "make_encoder"
    title = "maps (N, 784) to (N, 32) with the default arguments"

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(), "make_encoder()").to(bench.device)
        output = tensor(encoder(bench.randn(5, 784)), "the encoder's output")
        return {"shape": list(output.shape), "negative": bool((output < 0).any())}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != [5, 32]:
            return fail(
                f"A batch of 5 images of 784 pixels gave shape {tuple(seen['shape'])}, expected (5, 32)."
            )
        if not seen["negative"]:
            return fail(
                "Every latent value is ≥ 0: the encoder must end with the last Linear layer, "
                "no ReLU (or other activation) after it."
            )
        return PASS


class EncoderLayers(Check):
    exercise = "make_encoder"
    title = "chains Linear 784 → 128 → 64 → 32 (110,816 parameters)"

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(), "make_encoder()")
        return {"layers": layer_sizes(encoder), "parameters": parameter_count(encoder)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return expect_layers(seen, [[784, 128], [128, 64], [64, 32]], 110_816, "make_encoder()")


class DecoderShape(Check):
    exercise = "make_decoder"
    title = "maps (N, 32) to (N, 784) with values in (0, 1)"

    def probe(self, bench: Bench) -> dict:
        decoder = module(bench.get()(), "make_decoder()").to(bench.device)
        output = tensor(decoder(bench.randn(5, 32, scale=3.0)), "the decoder's output")
        return {
            "shape": list(output.shape),
            "low": output.min().item(),
            "high": output.max().item(),
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != [5, 784]:
            return fail(
                f"A batch of 5 codes of size 32 gave shape {tuple(seen['shape'])}, expected (5, 784)."
            )
        if not (seen["low"] >= 0.0 and seen["high"] <= 1.0):  # NaN fails too
            return fail(
                f"Outputs range over [{seen['low']:.3g}, {seen['high']:.3g}]: end the decoder with "
                "a Sigmoid so every pixel is a probability in (0, 1), as the BCE loss requires."
            )
        return PASS


class DecoderLayers(Check):
    exercise = "make_decoder"
    title = "chains Linear 32 → 64 → 128 → 784 (111,568 parameters)"

    def probe(self, bench: Bench) -> dict:
        decoder = module(bench.get()(), "make_decoder()")
        return {"layers": layer_sizes(decoder), "parameters": parameter_count(decoder)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return expect_layers(seen, [[32, 64], [64, 128], [128, 784]], 111_568, "make_decoder()")


# --- reconstruction_loss ---------------------------------------------------------------------


class ReconstructionShape(Check):
    exercise = "reconstruction_loss"
    title = "returns one value per sample, shape (N,)"

    def probe(self, bench: Bench) -> dict:
        x = bench.uniform(4, 1, 28, 28)
        loss = tensor(bench.get()(bench.uniform(4, 1, 28, 28, low=0.05, high=0.95), x), "the loss")
        return {"shape": list(loss.shape)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return expect_shape(torch.empty(seen["shape"]), (4,), "For 4 images the loss")


class ReconstructionAtHalf(Check):
    exercise = "reconstruction_loss"
    title = "is 784 · ln 2 per image when every predicted pixel is 0.5"

    def probe(self, bench: Bench) -> dict:
        x = bench.uniform(3, 1, 28, 28)
        x_hat = torch.full_like(x, 0.5)
        return {"loss": tensor(bench.get()(x_hat, x), "the loss")}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        expected = torch.full((3,), 784 * LN2)
        return expect_close(
            seen["loss"],
            expected,
            "With x_hat = 0.5 the loss per image",
            mistakes=[
                (
                    expected / 784,
                    "you averaged over the pixels; sum over every non-batch dimension instead.",
                ),
                (
                    -expected,
                    "the sign is flipped: BCE is -[x log x̂ + (1 - x) log(1 - x̂)], which is ≥ 0.",
                ),
                (
                    expected / math.log(2.0) * math.log10(2.0),
                    "use the natural log (torch.log), not log10.",
                ),
                (expected / LN2, "use the natural log (torch.log), not log2."),
            ],
        )


# --- autoencoder_forward ---------------------------------------------------------------------


class AutoencoderOutputs(Check):
    exercise = "autoencoder_forward"
    title = "returns a scalar loss and x_hat with x's shape"

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = seeded_autoencoder(bench)
        loss, x_hat = pair(
            bench.get()(encoder, decoder, bench.uniform(4, 1, 28, 28)), "autoencoder_forward"
        )
        loss, x_hat = tensor(loss, "the loss"), tensor(x_hat, "x_hat")
        return {"loss_shape": list(loss.shape), "x_hat_shape": list(x_hat.shape)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return judge_forward_outputs(seen)


def judge_forward_outputs(seen: dict) -> Verdict:
    """A forward pass returns a scalar loss and x_hat with x's shape (4, 1, 28, 28)."""
    if seen["loss_shape"] != []:
        return fail(
            f"The loss has shape {tuple(seen['loss_shape'])}: it must be a scalar, the mean "
            "over the batch of the per-image losses."
        )
    if seen["x_hat_shape"] != [4, 1, 28, 28]:
        return fail(
            f"x_hat has shape {tuple(seen['x_hat_shape'])}, expected x's shape (4, 1, 28, 28): "
            "reshape the decoder's output back with x_hat.view(x.shape)."
        )
    return PASS


class AutoencoderLoss(Check):
    exercise = "autoencoder_forward"
    title = "loss is the batch mean of reconstruction_loss(x_hat, x)"

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = seeded_autoencoder(bench)
        x = bench.uniform(4, 1, 28, 28)
        loss, x_hat = pair(bench.get()(encoder, decoder, x), "autoencoder_forward")
        per_image = tensor(
            bench.get("reconstruction_loss")(tensor(x_hat, "x_hat"), x), "reconstruction_loss"
        )
        return {"loss": tensor(loss, "the loss"), "per_image": per_image}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        expected = seen["per_image"].mean()
        return expect_close(
            seen["loss"],
            expected,
            "The loss",
            mistakes=[(seen["per_image"].sum(), "you summed over the batch; take the mean.")],
            otherwise="It should equal reconstruction_loss(x_hat, x).mean().",
        )


# --- VAEEncoder ------------------------------------------------------------------------------


class VAEEncoderParts(Check):
    exercise = "VAEEncoder"
    title = "has a trunk 784 → 128 → 64 and heads mu_head, logvar_head = Linear(64, 2)"

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(), "VAEEncoder()")
        parts = {}
        for name in ("trunk", "mu_head", "logvar_head"):
            part = getattr(encoder, name, None)
            parts[name] = layer_sizes(part) if isinstance(part, torch.nn.Module) else None
        parts["heads_are_linear"] = all(
            isinstance(getattr(encoder, name, None), torch.nn.Linear)
            for name in ("mu_head", "logvar_head")
        )
        parts["shared_head"] = getattr(encoder, "mu_head", 1) is getattr(encoder, "logvar_head", 2)
        return parts

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        missing = [name for name in ("trunk", "mu_head", "logvar_head") if seen[name] is None]
        if missing:
            return fail(f"VAEEncoder() has no attribute {', '.join(missing)} (an nn.Module each).")
        if seen["trunk"] != [[784, 128], [128, 64]]:
            return fail(f"The trunk's Linear layers are {seen['trunk']}, expected 784 → 128 → 64.")
        if seen["shared_head"]:
            return fail(
                "mu_head and logvar_head are the same layer: give each its own nn.Linear(64, latent_dim)."
            )
        if (
            not seen["heads_are_linear"]
            or seen["mu_head"] != [[64, 2]]
            or seen["logvar_head"] != [[64, 2]]
        ):
            return fail(
                f"The heads are {seen['mu_head']} and {seen['logvar_head']}: each must be "
                "nn.Linear(64, latent_dim), latent_dim = 2 by default."
            )
        return PASS


class VAEEncoderOutputs(Check):
    exercise = "VAEEncoder"
    title = "returns (mu, logvar), both (N, 2), for a batch of flattened images"

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(), "VAEEncoder()").to(bench.device)
        mu, logvar = pair(encoder(bench.randn(6, 784)), "VAEEncoder.forward")
        mu, logvar = tensor(mu, "mu"), tensor(logvar, "logvar")
        return {
            "mu": list(mu.shape),
            "logvar": list(logvar.shape),
            "same": bool(torch.equal(mu, logvar)),
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for name in ("mu", "logvar"):
            if seen[name] != [6, 2]:
                return fail(f"For 6 images {name} has shape {tuple(seen[name])}, expected (6, 2).")
        if seen["same"]:
            return fail("mu and logvar are identical: compute each with its own head.")
        return PASS


# --- reparameterize --------------------------------------------------------------------------


class ReparameterizeDevice(Check):
    exercise = "reparameterize"
    title = "keeps mu's shape, dtype and device (so it runs on a GPU too)"

    def probe(self, bench: Bench) -> dict:
        return run_on_meta(
            bench.get(),
            lambda device: (
                torch.zeros(3, 4, dtype=torch.float64, device=device),
                torch.zeros(3, 4, dtype=torch.float64, device=device),
            ),
            "z",
        )

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != [3, 4]:
            return fail(f"z has shape {tuple(seen['shape'])}, expected mu's shape (3, 4).")
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
        return bool(((var - target).abs() <= target * math.sqrt(2.0 / count) * 6).all())

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
    if ((mean - want_mean).abs() > (torch.tensor([1.0, 4.0]) / count).sqrt() * 6).any():
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


class KlShape(Check):
    exercise = "kl_divergence"
    title = "returns one value per sample, shape (N,)"

    def probe(self, bench: Bench) -> dict:
        kl = tensor(bench.get()(bench.randn(5, 3), bench.randn(5, 3, scale=0.5)), "the KL")
        return {"shape": list(kl.shape)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return expect_shape(
            torch.empty(seen["shape"]), (5,), "For 5 samples of a 3-D latent the KL"
        )


class KlAtPrior(Check):
    exercise = "kl_divergence"
    title = "is 0 when mu = 0 and logvar = 0 (q is the prior)"

    def probe(self, bench: Bench) -> dict:
        zeros = torch.zeros(4, 3, device=bench.device)
        return {"kl": tensor(bench.get()(zeros, zeros.clone()), "the KL")}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return expect_close(
            seen["kl"],
            torch.zeros(4),
            "KL(N(0, I) ‖ N(0, I))",
            otherwise="It must be 0: check the constant term, -½ Σ (1 + logvar - mu² - exp(logvar)).",
        )


class KlKnownValues(Check):
    exercise = "kl_divergence"
    title = "gives 2 per dimension for mu = 2, logvar = 0 and 0.359 for mu = 0, logvar = 1"

    def probe(self, bench: Bench) -> dict:
        mu = torch.tensor(
            [[2.0, 2.0, 2.0], [0.0, 0.0, 0.0]], dtype=torch.float64, device=bench.device
        )
        logvar = torch.tensor(
            [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], dtype=torch.float64, device=bench.device
        )
        return {"kl": tensor(bench.get()(mu, logvar), "the KL")}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        per_dim = torch.tensor([2.0, 0.5 * (math.e - 2.0)], dtype=torch.float64)
        expected = 3 * per_dim
        return expect_close(
            seen["kl"],
            expected,
            "For mu = 2, logvar = 0 and for mu = 0, logvar = 1 (3 latent dimensions) the KL",
            mistakes=[
                (
                    -expected,
                    "your KL is negative: check the sign. KL = -½ Σ (1 + logvar - mu² - exp(logvar)) ≥ 0.",
                ),
                (2 * expected, "it is twice too large: the closed form has a factor ½."),
                (per_dim, "sum over the latent dimensions instead of averaging them."),
            ],
        )


# --- vae_forward -----------------------------------------------------------------------------


class VaeOutputs(Check):
    exercise = "vae_forward"
    title = "returns a scalar loss and x_hat with x's shape"

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = seeded_vae(bench)
        bench.reseed()
        loss, x_hat = pair(
            bench.get()(encoder, decoder, bench.uniform(4, 1, 28, 28)), "vae_forward"
        )
        loss, x_hat = tensor(loss, "the loss"), tensor(x_hat, "x_hat")
        return {"loss_shape": list(loss.shape), "x_hat_shape": list(x_hat.shape)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return judge_forward_outputs(seen)


class VaeLossTerms(Check):
    exercise = "vae_forward"
    title = "loss is the batch mean of reconstruction_loss + beta · kl_divergence"

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = seeded_vae(bench)
        x = bench.uniform(4, 1, 28, 28)
        bench.reseed()
        loss, x_hat = pair(bench.get()(encoder, decoder, x, beta=0.25), "vae_forward")
        with torch.no_grad():
            mu, logvar = encoder(x.reshape(4, -1))
        return {
            "loss": tensor(loss, "the loss"),
            "recon": tensor(
                bench.get("reconstruction_loss")(tensor(x_hat, "x_hat"), x), "reconstruction_loss"
            ),
            "kl": tensor(bench.get("kl_divergence")(mu, logvar), "kl_divergence"),
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        recon, kl = seen["recon"], seen["kl"]
        return expect_close(
            seen["loss"],
            (recon + 0.25 * kl).mean(),
            "With beta = 0.25 the loss",
            mistakes=[
                (recon.mean(), "the KL term is missing: add beta * kl_divergence(mu, logvar)."),
                ((recon + kl).mean(), "beta is ignored: multiply the KL term by beta."),
                ((recon - 0.25 * kl).mean(), "the KL term is subtracted; the loss adds it."),
                ((recon + 0.25 * kl).sum(), "you summed over the batch; take the mean."),
            ],
            otherwise="It should equal (reconstruction_loss(x_hat, x) + beta * kl_divergence(mu, logvar)).mean().",
        )


# --- interpolate -----------------------------------------------------------------------------


class InterpolateEnds(Check):
    exercise = "interpolate"
    title = "returns (steps, D) from z_start (first row) to z_end (last row)"

    def probe(self, bench: Bench) -> dict:
        start, end = bench.randn(3), bench.randn(3)
        path = tensor(bench.get()(start, end, 5), "the path")
        return {"path": path, "start": start, "end": end}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        path = seen["path"]
        if tuple(path.shape) != (5, 3):
            return fail(
                f"interpolate(z_start, z_end, 5) for D = 3 has shape {tuple(path.shape)}, expected (5, 3)."
            )
        if not torch.allclose(path[0], seen["start"]) or not torch.allclose(path[-1], seen["end"]):
            return fail("The first row must be z_start and the last row z_end (both included).")
        return PASS


CHECKS: list[Check] = [
    EncoderShape(),
    EncoderLayers(),
    DecoderShape(),
    DecoderLayers(),
    ReconstructionShape(),
    ReconstructionAtHalf(),
    AutoencoderOutputs(),
    AutoencoderLoss(),
    VAEEncoderParts(),
    VAEEncoderOutputs(),
    ReparameterizeDevice(),
    ReparameterizeMoments(),
    KlShape(),
    KlAtPrior(),
    KlKnownValues(),
    VaeOutputs(),
    VaeLossTerms(),
    InterpolateEnds(),
]
