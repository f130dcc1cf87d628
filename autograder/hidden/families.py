"""Families of hidden checks, used by both assignments: each written once, its members listed
with their data in the assignments' modules. Never shipped to students (the public families
are in :mod:`aekit.checks.families`)."""

from collections.abc import Callable

import torch
from torch import nn

from aekit.checks.compare import PASS, Verdict, expect_all_close, expect_close, fail, is_close
from aekit.checks.core import Bench, Check, module, pair, tensor
from aekit.checks.families import family
from aekit.checks.fixtures import gradient_norms
from aekit.checks.vae import BETA_IGNORED

Fixtures = Callable[[Bench], tuple[nn.Module, nn.Module]]


class HiddenCheck(Check):
    """A check the autograder runs and students never see."""

    hidden = True


class ReferenceCheck(HiddenCheck):
    """A hidden check whose judge compares with the reference solution."""

    needs_reference = True


@family
class MatchesReference(ReferenceCheck):
    """The exercise on seeded inputs gives the reference's result; typical mistakes, computed
    from the inputs and the reference's result, are named."""

    exercise: str
    title: str
    inputs: Callable[[Bench], tuple]
    result: str  # what the result is called in a Mismatch: "the loss"
    what: str
    mistakes: Callable[[list, torch.Tensor], list] = lambda inputs, want: []
    otherwise: str = ""

    def probe(self, bench: Bench) -> dict:
        inputs = self.inputs(bench)
        return {"value": tensor(bench.get()(*inputs), self.result), "inputs": list(inputs)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        want = reference["value"]
        mistakes = self.mistakes(seen["inputs"], want)
        return expect_close(seen["value"], want, self.what, mistakes, self.otherwise)


# --- gradients reach the parts -----------------------------------------------------------------


class GradientsReach(HiddenCheck):
    """Every part the probe names received a gradient; ``missing`` (with {part}) says what
    stops one."""

    missing: str

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        for part, norm in seen.items():
            if not norm > 0:
                return fail(self.missing.format(part=part.replace("_", " ")))
        return PASS


@family
class LossGradients(GradientsReach):
    """Backward from the loss of a forward pass on seeded fixtures; each of ``parts`` (of the
    encoder, decoder pair) must receive a gradient."""

    exercise: str
    title: str
    fixtures: Fixtures
    inputs: Callable[[Bench], torch.Tensor]
    parts: Callable[[nn.Module, nn.Module], dict[str, nn.Module]]
    missing: str

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = self.fixtures(bench)
        bench.reseed()
        loss, _ = pair(bench.get()(encoder, decoder, self.inputs(bench)), self.exercise)
        tensor(loss, "the loss").backward()
        return {name: gradient_norms(part) for name, part in self.parts(encoder, decoder).items()}


def encoder_and_decoder(encoder: nn.Module, decoder: nn.Module) -> dict[str, nn.Module]:
    return {"encoder": encoder, "decoder": decoder}


def heads_and_decoder(encoder: nn.Module, decoder: nn.Module) -> dict[str, nn.Module]:
    return {"mu_head": encoder.mu_head, "logvar_head": encoder.logvar_head, "decoder": decoder}


@family
class HeadGradients(GradientsReach):
    """Backward from mu, then from logvar, of the student's encoder: each must reach the part
    both heads share (``shared(encoder)``)."""

    exercise: str
    title: str
    arguments: dict
    built: str  # the constructor call, for a Mismatch
    shared: Callable[[nn.Module], nn.Module]
    inputs: Callable[[Bench], torch.Tensor]
    missing: str

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(**self.arguments), self.built).to(bench.device)
        shared = self.shared(encoder)
        x = self.inputs(bench)
        seen = {}
        for index, name in enumerate(("mu", "logvar")):
            encoder.zero_grad(set_to_none=True)
            output = tensor(pair(encoder(x), f"{self.exercise}.forward")[index], name)
            output.sum().backward()
            seen[name] = gradient_norms(shared)
        return seen


# --- the VAE encoders' heads ---------------------------------------------------------------------


def heads_swapped(seen: dict, want: dict) -> Verdict:
    """Fail when the encoder's mu is the expected logvar and its logvar the expected mu."""
    if is_close(seen["mu"], want["logvar"]) and is_close(seen["logvar"], want["mu"]):
        return fail("mu and logvar are swapped: mu comes from mu_head, logvar from logvar_head.")
    return PASS


# --- the VAE forward passes ----------------------------------------------------------------------


@family
class DecodesSample(HiddenCheck):
    """The forward pass decodes a sample z, fresh at every call, not mu: on wide posteriors
    the output differs from the decode of mu, and from one call to the next."""

    exercise: str
    setup: Callable[[Bench], tuple[nn.Module, nn.Module, torch.Tensor]]  # wide posteriors
    decode_mean: Callable[[nn.Module, nn.Module, torch.Tensor], torch.Tensor]
    output: str  # what the forward pass's second output is: "x_hat"
    of_mean: str  # the message when it is the decode of mu
    repeated: str  # the message when two calls agree
    title: str = "decodes a sample z = reparameterize(mu, logvar), not mu"

    def probe(self, bench: Bench) -> dict:
        encoder, decoder, x = self.setup(bench)
        bench.reseed()
        first, second = (
            tensor(pair(bench.get()(encoder, decoder, x), self.exercise)[1], self.output)
            for _ in range(2)
        )
        with torch.no_grad():
            from_mean = self.decode_mean(encoder, decoder, x)
        return {"first": first, "second": second, "from_mean": from_mean}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if is_close(seen["first"], seen["from_mean"]):
            return fail(self.of_mean)
        if torch.equal(seen["first"], seen["second"]):
            return fail(self.repeated)
        return PASS


@family
class WeighsOnlyKl(ReferenceCheck):
    """The loss at beta = 0 and beta = 4 is the reference's. With beta = 1 probed too, a loss
    that ignores beta is named."""

    exercise: str
    loss: Callable[[Bench, int], torch.Tensor]  # a forward pass's loss at beta, seeded
    betas: tuple[int, ...]  # probed, in this order
    otherwise: str
    title: str = "weighs only the KL term by beta (beta = 0 and beta = 4)"

    def probe(self, bench: Bench) -> dict:
        return {f"loss_{beta}": self.loss(bench, beta) for beta in self.betas}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        return expect_all_close(
            seen,
            reference,
            {f"loss_{beta}": f"With beta = {beta} the loss" for beta in (0, 4)},
            mistakes=[(reference["loss_1"], BETA_IGNORED)] if 1 in self.betas else [],
            otherwise=self.otherwise,
        )
