"""Hidden checks of ``mnist_autoencoders``: values against the reference, gradients,
statistics, structure and devices. Never shipped to students.

Judges that compare with the reference receive its observation of the same probe, computed
in the trusted process from the solutions in ``source/``.
"""

import math

import torch
from torch import nn

from aekit.checks.compare import PASS, Verdict, expect_close, fail, is_close
from aekit.checks.core import Bench, Check, Mismatch, linear_layers, module, pair, tensor
from aekit.checks.fixtures import gradient_norms, run_on_meta, seeded_autoencoder, seeded_vae
from aekit.checks.mnist import expect_layers, layer_sizes, parameter_count


class ReferenceCheck(Check):
    """A hidden check whose judge compares with the reference solution."""

    hidden = True
    needs_reference = True


# --- make_encoder / make_decoder -----------------------------------------------------------


def filled_forward(
    bench: Bench, model: nn.Module, inputs: torch.Tensor, layers: int
) -> torch.Tensor:
    """Output of ``model`` on ``inputs`` after giving its ``layers`` Linear layers seeded weights."""
    found = linear_layers(model)
    if len(found) != layers:
        raise Mismatch(
            f"expected {layers} Linear layers, found {len(found)}; compare with the contract."
        )
    bench.fill_linear_layers(found)
    with torch.no_grad():
        return tensor(model.to(bench.device)(inputs), "the output")


class EncoderOtherSizes(Check):
    exercise = "make_encoder"
    title = "follows in_features and latent_dim (20 → 128 → 64 → 3)"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(in_features=20, latent_dim=3), "make_encoder(20, 3)")
        return {"layers": layer_sizes(encoder), "parameters": parameter_count(encoder)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        count = 20 * 128 + 128 + 128 * 64 + 64 + 64 * 3 + 3
        return expect_layers(seen, [[20, 128], [128, 64], [64, 3]], count, "make_encoder(20, 3)")


class EncoderValues(ReferenceCheck):
    exercise = "make_encoder"
    title = "computes Linear → ReLU → Linear → ReLU → Linear, as the reference does"

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(in_features=20, latent_dim=3), "make_encoder(20, 3)")
        return {"z": filled_forward(bench, encoder, bench.randn(6, 20), 3)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        want = reference["z"]
        return expect_close(
            seen["z"],
            want,
            "With the same weights, the code",
            mistakes=[
                (torch.relu(want), "the last layer must have no activation; remove the final ReLU.")
            ],
            otherwise="Put a ReLU after the first two Linear layers, nothing else.",
        )


class DecoderOtherSizes(Check):
    exercise = "make_decoder"
    title = "follows out_features and latent_dim (3 → 64 → 128 → 20)"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        decoder = module(bench.get()(out_features=20, latent_dim=3), "make_decoder(20, 3)")
        return {"layers": layer_sizes(decoder), "parameters": parameter_count(decoder)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        count = 3 * 64 + 64 + 64 * 128 + 128 + 128 * 20 + 20
        return expect_layers(seen, [[3, 64], [64, 128], [128, 20]], count, "make_decoder(20, 3)")


class DecoderValues(ReferenceCheck):
    exercise = "make_decoder"
    title = "computes Linear → ReLU → Linear → ReLU → Linear → Sigmoid, as the reference does"

    def probe(self, bench: Bench) -> dict:
        decoder = module(bench.get()(out_features=20, latent_dim=3), "make_decoder(20, 3)")
        return {"x_hat": filled_forward(bench, decoder, bench.randn(6, 3, scale=2.0), 3)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        want = reference["x_hat"]
        return expect_close(
            seen["x_hat"],
            want,
            "With the same weights, the output",
            mistakes=[(torch.logit(want), "the final Sigmoid is missing.")],
            otherwise="Put a ReLU after the first two Linear layers and a Sigmoid after the last.",
        )


# --- reconstruction_loss ---------------------------------------------------------------------


class ReconstructionValues(ReferenceCheck):
    exercise = "reconstruction_loss"
    title = "matches the summed binary cross-entropy on grey-level images (float64)"

    def probe(self, bench: Bench) -> dict:
        x = bench.uniform(5, 1, 28, 28, dtype=torch.float64)
        x_hat = bench.uniform(5, 1, 28, 28, low=0.02, high=0.98, dtype=torch.float64)
        return {"loss": tensor(bench.get()(x_hat, x), "the loss")}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        want = reference["loss"]
        return expect_close(
            seen["loss"],
            want,
            "On random images the loss",
            mistakes=[
                (want / 784, "you averaged over the pixels; sum them."),
                (-want, "the sign is flipped: the loss is a negative log-likelihood, ≥ 0."),
            ],
            otherwise="Check the formula: -[x log x̂ + (1 - x) log(1 - x̂)], summed over pixels.",
        )


class ReconstructionAnyShape(ReferenceCheck):
    exercise = "reconstruction_loss"
    title = "sums over every non-batch dimension, for any shape, with gradients to x_hat"

    def probe(self, bench: Bench) -> dict:
        seen = {}
        for name, shape in (("flat", (3, 784)), ("other", (3, 2, 5, 7))):
            x = bench.uniform(*shape, dtype=torch.float64)
            x_hat = bench.uniform(*shape, low=0.05, high=0.95, dtype=torch.float64).requires_grad_()
            loss = tensor(bench.get()(x_hat, x), "the loss")
            seen[name] = loss
            if name == "other":
                tensor(loss, "the loss").sum().backward()
                seen["grad"] = x_hat.grad if x_hat.grad is not None else torch.zeros(0)
        return seen

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for name, label in (("flat", "(N, 784)"), ("other", "(N, 2, 5, 7)")):
            verdict = expect_close(
                seen[name],
                reference[name],
                f"For inputs of shape {label} the loss",
                otherwise="Sum over every dimension but the batch: x.reshape(len(x), -1).sum(1).",
            )
            if not verdict.passed:
                return verdict
        if seen["grad"].numel() == 0:
            return fail(
                "No gradient reaches x_hat: build the loss from x_hat with torch operations only."
            )
        return expect_close(seen["grad"], reference["grad"], "The gradient with respect to x_hat")


# --- autoencoder_forward ---------------------------------------------------------------------


class AutoencoderValues(ReferenceCheck):
    exercise = "autoencoder_forward"
    title = "matches the reference for (N, 1, 28, 28) and (N, 784) inputs"

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = seeded_autoencoder(bench)
        seen = {}
        for name, shape in (("image", (4, 1, 28, 28)), ("flat", (4, 784))):
            loss, x_hat = pair(
                bench.get()(encoder, decoder, bench.uniform(*shape)), "autoencoder_forward"
            )
            seen[name + "_loss"], seen[name + "_x_hat"] = (
                tensor(loss, "the loss"),
                tensor(x_hat, "x_hat"),
            )
        return seen

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for name in ("image", "flat"):
            for part in ("x_hat", "loss"):
                verdict = expect_close(
                    seen[f"{name}_{part}"],
                    reference[f"{name}_{part}"],
                    f"For {name} inputs, {'x_hat' if part == 'x_hat' else 'the loss'}",
                    otherwise="Flatten x to (N, 784), encode, decode, reshape to x's shape.",
                )
                if not verdict.passed:
                    return verdict
        return PASS


class AutoencoderGradients(Check):
    exercise = "autoencoder_forward"
    title = "sends gradients to both the encoder and the decoder"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = seeded_autoencoder(bench)
        loss, _ = pair(
            bench.get()(encoder, decoder, bench.uniform(4, 1, 28, 28)), "autoencoder_forward"
        )
        tensor(loss, "the loss").backward()
        return {"encoder": gradient_norms(encoder), "decoder": gradient_norms(decoder)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for part in ("encoder", "decoder"):
            if not seen[part] > 0:
                return fail(
                    f"No gradient reaches the {part}: compute the loss from x_hat without .detach(), "
                    "torch.no_grad() or a detour through NumPy."
                )
        return PASS


# --- VAEEncoder ------------------------------------------------------------------------------


def encoder_parts(bench: Bench, encoder: nn.Module) -> tuple[nn.Module, nn.Module, nn.Module]:
    parts = tuple(getattr(encoder, name, None) for name in ("trunk", "mu_head", "logvar_head"))
    if not all(isinstance(part, nn.Module) for part in parts):
        raise Mismatch(
            "VAEEncoder needs the attributes trunk, mu_head and logvar_head (nn.Modules)."
        )
    return parts


class VAEEncoderSharedTrunk(Check):
    exercise = "VAEEncoder"
    title = "computes mu = mu_head(trunk(x)) and logvar = logvar_head(trunk(x))"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(), "VAEEncoder()").to(bench.device)
        trunk, mu_head, logvar_head = encoder_parts(bench, encoder)
        x = bench.randn(5, 784)
        with torch.no_grad():
            mu, logvar = pair(encoder(x), "VAEEncoder.forward")
            features = trunk(x)
            return {
                "mu": tensor(mu, "mu"),
                "logvar": tensor(logvar, "logvar"),
                "want_mu": mu_head(features),
                "want_logvar": logvar_head(features),
            }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if is_close(seen["mu"], seen["want_logvar"]) and is_close(seen["logvar"], seen["want_mu"]):
            return fail(
                "mu and logvar are swapped: mu comes from mu_head, logvar from logvar_head."
            )
        for name in ("mu", "logvar"):
            verdict = expect_close(
                seen[name],
                seen[f"want_{name}"],
                name,
                otherwise=f"forward must return {name}_head(trunk(x)), both heads on the same trunk output.",
            )
            if not verdict.passed:
                return verdict
        return PASS


class VAEEncoderTrunkGradients(Check):
    exercise = "VAEEncoder"
    title = "both heads send gradients into the shared trunk"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(), "VAEEncoder()").to(bench.device)
        trunk, _, _ = encoder_parts(bench, encoder)
        x = bench.randn(5, 784)
        seen = {}
        for index, name in enumerate(("mu", "logvar")):
            encoder.zero_grad(set_to_none=True)
            output = tensor(pair(encoder(x), "VAEEncoder.forward")[index], name)
            output.sum().backward()
            seen[name] = gradient_norms(trunk)
        return seen

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for name in ("mu", "logvar"):
            if not seen[name] > 0:
                return fail(
                    f"{name} sends no gradient into the trunk: compute it from self.trunk(x)."
                )
        return PASS


class VAEEncoderValues(ReferenceCheck):
    exercise = "VAEEncoder"
    title = "matches the reference for in_features = 20, latent_dim = 5 with the same weights"

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(in_features=20, latent_dim=5), "VAEEncoder(20, 5)")
        trunk, mu_head, logvar_head = encoder_parts(bench, encoder)
        layers = linear_layers(trunk) + [mu_head, logvar_head]
        if [type(layer) for layer in layers] != [nn.Linear] * 4:
            raise Mismatch(
                "the trunk should hold two Linear layers and each head be one nn.Linear."
            )
        bench.fill_linear_layers(layers)
        with torch.no_grad():
            mu, logvar = pair(encoder.to(bench.device)(bench.randn(6, 20)), "VAEEncoder.forward")
        return {"mu": tensor(mu, "mu"), "logvar": tensor(logvar, "logvar")}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for name in ("mu", "logvar"):
            verdict = expect_close(
                seen[name],
                reference[name],
                f"With the same weights, {name}",
                otherwise="The trunk is Linear → ReLU → Linear → ReLU; the heads add no activation.",
            )
            if not verdict.passed:
                return verdict
        return PASS


class VAEEncoderParameters(Check):
    exercise = "VAEEncoder"
    title = "has 108,996 parameters and a trunk that ends with a ReLU"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(), "VAEEncoder()").to(bench.device)
        trunk, _, _ = encoder_parts(bench, encoder)
        with torch.no_grad():
            features = tensor(trunk(bench.randn(8, 784, scale=3.0)), "trunk(x)")
        return {"parameters": parameter_count(encoder), "low": features.min().item()}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["parameters"] != 108_996:
            return fail(
                f"VAEEncoder() has {seen['parameters']:,} parameters, expected 108,996 "
                "(trunk 784 → 128 → 64, two heads 64 → 2)."
            )
        if seen["low"] < 0:
            return fail("The trunk's output has negative values: end the trunk with a ReLU.")
        return PASS


# --- reparameterize --------------------------------------------------------------------------


class ReparameterizeFreshNoise(Check):
    exercise = "reparameterize"
    title = "draws fresh noise at every call and for every element"
    hidden = True

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


class ReparameterizeExactForm(Check):
    exercise = "reparameterize"
    title = "is exactly mu + exp(logvar / 2) · eps"
    hidden = True

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


class ReparameterizeGradients(Check):
    exercise = "reparameterize"
    title = "passes gradients to mu and logvar (dz/dmu = 1, dz/dlogvar = (z - mu) / 2)"
    hidden = True

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
        missing = torch.zeros(0)
        return {
            "z": z,
            "mu": mu,
            "mu_grad": mu.grad if mu.grad is not None else missing,
            "logvar_grad": logvar.grad if logvar.grad is not None else missing,
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for name in ("mu", "logvar"):
            if seen[f"{name}_grad"].numel() == 0:
                return fail(
                    f"No gradient reaches {name}: do not detach it or sample with torch.normal."
                )
        verdict = expect_close(seen["mu_grad"], torch.ones_like(seen["mu"]), "dz/dmu")
        if not verdict.passed:
            return verdict
        return expect_close(
            seen["logvar_grad"],
            0.5 * (seen["z"] - seen["mu"]),
            "dz/dlogvar",
            otherwise="z must be mu + exp(0.5 * logvar) * eps with eps independent of mu and logvar.",
        )


class ReparameterizeShapes(Check):
    exercise = "reparameterize"
    title = "works for any shape: (D,), (N, D) and (N, C, D)"
    hidden = True

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


class KlValues(ReferenceCheck):
    exercise = "kl_divergence"
    title = "matches the closed form on random inputs (float64)"

    def probe(self, bench: Bench) -> dict:
        mu, logvar = bench.randn(7, 4, dtype=torch.float64), bench.randn(7, 4, dtype=torch.float64)
        return {"kl": tensor(bench.get()(mu, logvar), "the KL")}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        want = reference["kl"]
        return expect_close(
            seen["kl"],
            want,
            "On random inputs the KL",
            mistakes=[
                (-want, "your KL is negative: check the sign."),
                (2 * want, "the closed form has a factor ½."),
                (want / 4, "sum over the latent dimensions instead of averaging them."),
            ],
            otherwise="KL = -½ Σ_j (1 + logvar_j - mu_j² - exp(logvar_j)); logvar is log σ², not log σ.",
        )


class KlMonteCarlo(Check):
    exercise = "kl_divergence"
    title = "agrees with a Monte Carlo estimate of E_q[log q(z) - log p(z)]"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        mu = torch.tensor([[0.5, -1.0, 0.0]], dtype=torch.float64, device=bench.device)
        logvar = torch.tensor([[-0.5, 0.3, 1.0]], dtype=torch.float64, device=bench.device)
        return {"kl": tensor(bench.get()(mu, logvar), "the KL"), "mu": mu, "logvar": logvar}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        # The judge draws its own samples: this check needs no reference solution.
        generator = torch.Generator().manual_seed(self.seed)
        mu, std = seen["mu"][0], torch.exp(0.5 * seen["logvar"][0])
        z = mu + std * torch.randn(400_000, 3, generator=generator, dtype=torch.float64)
        log_ratio = (-0.5 * ((z - mu) / std) ** 2 - torch.log(std) + 0.5 * z**2).sum(dim=1)
        estimate, error = log_ratio.mean(), log_ratio.std() / math.sqrt(len(log_ratio))
        kl = seen["kl"].reshape(-1)
        if kl.numel() != 1:
            return fail(f"For one sample the KL has {kl.numel()} values; expected one.")
        if not torch.isfinite(kl[0]) or (kl[0] - estimate).abs() > 6 * error + 1e-3:
            return fail(
                f"Your KL is {kl[0]:.4f}; a Monte Carlo estimate gives {estimate:.4f} ± {error:.4f}. "
                "Check the closed form against the definition E_q[log q(z) - log p(z)]."
            )
        return PASS


class KlGradientsAndDevice(Check):
    exercise = "kl_divergence"
    title = "sends gradients to mu and logvar and runs on any device"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        mu = bench.randn(3, 2, dtype=torch.float64).requires_grad_()
        logvar = bench.randn(3, 2, dtype=torch.float64).requires_grad_()
        tensor(bench.get()(mu, logvar), "the KL").sum().backward()
        missing = torch.zeros(0)
        device = run_on_meta(
            bench.get(),
            lambda device: (torch.zeros(3, 2, device=device), torch.zeros(3, 2, device=device)),
            "the KL",
        )
        return {
            "mu": mu,
            "logvar": logvar,
            "mu_grad": mu.grad if mu.grad is not None else missing,
            "logvar_grad": logvar.grad if logvar.grad is not None else missing,
            "device": device,
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for name in ("mu", "logvar"):
            if seen[f"{name}_grad"].numel() == 0:
                return fail(
                    f"No gradient reaches {name}: build the KL from it with torch operations."
                )
        verdict = expect_close(
            seen["mu_grad"], seen["mu"], "dKL/dmu", otherwise="It should equal mu."
        )
        if not verdict.passed:
            return verdict
        verdict = expect_close(
            seen["logvar_grad"],
            0.5 * (seen["logvar"].exp() - 1),
            "dKL/dlogvar",
            otherwise="It should be (exp(logvar) - 1) / 2.",
        )
        if not verdict.passed:
            return verdict
        if seen["device"]["device"] != seen["device"]["inputs"]:
            return fail("The KL is not on its inputs' device: build it from mu and logvar only.")
        return PASS


# --- vae_forward -----------------------------------------------------------------------------


def vae_pass(bench: Bench, beta: float, shape=(4, 1, 28, 28)) -> dict:
    encoder, decoder = seeded_vae(bench)
    x = bench.uniform(*shape)
    bench.reseed()
    loss, x_hat = pair(bench.get()(encoder, decoder, x, beta=beta), "vae_forward")
    return {"loss": tensor(loss, "the loss"), "x_hat": tensor(x_hat, "x_hat")}


class VaeValues(ReferenceCheck):
    exercise = "vae_forward"
    title = "matches the reference at beta = 1 (the negative ELBO), for images and flat inputs"

    def probe(self, bench: Bench) -> dict:
        image, flat = vae_pass(bench, 1.0), vae_pass(bench, 1.0, (4, 784))
        return {
            "image_loss": image["loss"],
            "image_x_hat": image["x_hat"],
            "flat_loss": flat["loss"],
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for key, what in (
            ("image_x_hat", "x_hat"),
            ("image_loss", "the loss"),
            ("flat_loss", "for flat inputs, the loss"),
        ):
            verdict = expect_close(
                seen[key],
                reference[key],
                what,
                otherwise="Flatten x, encode to (mu, logvar), z = reparameterize(mu, logvar), decode, reshape.",
            )
            if not verdict.passed:
                return verdict
        return PASS


class VaeBeta(ReferenceCheck):
    exercise = "vae_forward"
    title = "weighs only the KL term by beta (beta = 0 and beta = 4)"

    def probe(self, bench: Bench) -> dict:
        return {f"loss_{beta}": vae_pass(bench, beta)["loss"] for beta in (0, 1, 4)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for beta in (0, 4):
            verdict = expect_close(
                seen[f"loss_{beta}"],
                reference[f"loss_{beta}"],
                f"With beta = {beta} the loss",
                mistakes=[(reference["loss_1"], "beta is ignored: multiply the KL term by beta.")],
                otherwise="loss = (reconstruction_loss + beta * kl_divergence).mean(): beta multiplies the KL only.",
            )
            if not verdict.passed:
                return verdict
        return PASS


class VaeDecodesSample(Check):
    exercise = "vae_forward"
    title = "decodes a sample z = reparameterize(mu, logvar), not mu"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = seeded_vae(bench)
        with torch.no_grad():
            encoder.logvar_head.bias.fill_(1.0)  # wide posteriors: a sample is far from mu
        x = bench.uniform(4, 1, 28, 28)
        bench.reseed()
        first = tensor(pair(bench.get()(encoder, decoder, x), "vae_forward")[1], "x_hat")
        second = tensor(pair(bench.get()(encoder, decoder, x), "vae_forward")[1], "x_hat")
        with torch.no_grad():
            from_mean = decoder(encoder(x.reshape(4, -1))[0]).reshape(x.shape)
        return {"first": first, "second": second, "from_mean": from_mean}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if is_close(seen["first"], seen["from_mean"]):
            return fail(
                "x_hat is the decode of mu: decode z = reparameterize(mu, logvar) while training."
            )
        if torch.equal(seen["first"], seen["second"]):
            return fail("Two passes gave the same x_hat: sample z at every call.")
        return PASS


class VaeGradients(Check):
    exercise = "vae_forward"
    title = "sends gradients to both encoder heads and to the decoder"
    hidden = True

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = seeded_vae(bench)
        bench.reseed()
        loss, _ = pair(bench.get()(encoder, decoder, bench.uniform(4, 1, 28, 28)), "vae_forward")
        tensor(loss, "the loss").backward()
        return {
            "mu_head": gradient_norms(encoder.mu_head),
            "logvar_head": gradient_norms(encoder.logvar_head),
            "decoder": gradient_norms(decoder),
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for part in ("mu_head", "logvar_head", "decoder"):
            if not seen[part] > 0:
                return fail(
                    f"No gradient reaches the {part.replace('_', ' ')}: do not detach mu, logvar or z."
                )
        return PASS


# --- interpolate -----------------------------------------------------------------------------


class InterpolateValues(ReferenceCheck):
    exercise = "interpolate"
    title = "is evenly spaced and keeps dtype and device"

    def probe(self, bench: Bench) -> dict:
        start, end = bench.randn(4, dtype=torch.float64), bench.randn(4, dtype=torch.float64)
        path = tensor(bench.get()(start, end, 7), "the path")
        device = run_on_meta(
            lambda a, b: bench.get()(a, b, 3),
            lambda device: (torch.zeros(2, device=device), torch.ones(2, device=device)),
            "the path",
        )
        return {"path": path, "dtype": str(path.dtype), "device": device}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["dtype"] != "torch.float64":
            return fail(
                f"For float64 inputs the path is {seen['dtype']}: create the weights with dtype=z_start.dtype."
            )
        verdict = expect_close(
            seen["path"],
            reference["path"],
            "For 7 steps the path",
            otherwise="Row i is z_start + i / (steps - 1) · (z_end - z_start).",
        )
        if not verdict.passed:
            return verdict
        if seen["device"]["device"] != seen["device"]["inputs"]:
            return fail(
                "The path is not on the inputs' device: pass device=z_start.device to torch.linspace."
            )
        return PASS


CHECKS: list[Check] = [
    EncoderOtherSizes(),
    EncoderValues(),
    DecoderOtherSizes(),
    DecoderValues(),
    ReconstructionValues(),
    ReconstructionAnyShape(),
    AutoencoderValues(),
    AutoencoderGradients(),
    VAEEncoderSharedTrunk(),
    VAEEncoderTrunkGradients(),
    VAEEncoderValues(),
    VAEEncoderParameters(),
    ReparameterizeFreshNoise(),
    ReparameterizeExactForm(),
    ReparameterizeGradients(),
    ReparameterizeShapes(),
    KlValues(),
    KlMonteCarlo(),
    KlGradientsAndDevice(),
    VaeValues(),
    VaeBeta(),
    VaeDecodesSample(),
    VaeGradients(),
    InterpolateValues(),
]
