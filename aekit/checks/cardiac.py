"""Public checks of the ``cardiac_autoencoders`` exercises.

Students run these from the notebook for instant feedback. They test the contract of
docs/contract.md through shapes, structure, identities and known values, and the
consistency of each composite with the student's own pieces; they need no reference solution.
The autograder runs them too, beside its hidden checks. ``reparameterize`` and
``kl_divergence`` have the same contract as in ``mnist_autoencoders``: their checks are those of
:mod:`aekit.checks.vae`. ``CHECKS`` lists every check in order, the members of families
(:mod:`aekit.checks.families`) with their data.

Probes stay small (maps of 8 to 32 pixels, a few channels), so that grading a whole notebook
takes seconds on a laptop CPU.
"""

import math
from collections.abc import Callable

import torch
from torch import nn

from aekit.checks import vae
from aekit.checks.compare import PASS, Verdict, expect_close, expect_shape, fail
from aekit.checks.core import (
    Bench,
    Check,
    Mismatch,
    identified,
    linear_layers,
    module,
    pair,
    parameter_count,
    tensor,
)
from aekit.checks.families import KnownValue, PerSample, TwoHeads, family, shares_one_head
from aekit.checks.fixtures import TwoHeadEncoder

LN4 = math.log(4.0)
CONVOLUTIONS = (nn.Conv2d, nn.ConvTranspose2d)


# --- helpers the public and hidden checks share -----------------------------------------------


def conv_layers(model: nn.Module) -> list[nn.Module]:
    """The model's Conv2d and ConvTranspose2d layers, in the order they were registered."""
    return [layer for layer in model.modules() if isinstance(layer, CONVOLUTIONS)]


def describe_conv(layer: nn.Module) -> list:
    """[kind, in, out, kernel, stride, padding] of a convolution, as plain data.

    ``padding="same"`` with stride 1 is the padding that keeps the size: (k - 1) / 2 per side.
    """
    padding = layer.padding
    if isinstance(padding, str):
        padding = tuple((k - 1) // 2 for k in layer.kernel_size) if padding == "same" else (0, 0)
    return [
        type(layer).__name__,
        layer.in_channels,
        layer.out_channels,
        list(layer.kernel_size),
        list(layer.stride),
        list(padding),
    ]


def described_convs(model: nn.Module | None) -> list[list]:
    """:func:`describe_conv` of each of ``model``'s convolutions; none when it is no module."""
    if not isinstance(model, nn.Module):
        return []
    return [describe_conv(layer) for layer in conv_layers(model)]


def conv_spec(kind: str, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> list:
    return [kind, c_in, c_out, [kernel] * 2, [stride] * 2, [padding] * 2]


def down_specs(c_in: int, c_out: int) -> list[list]:
    """The two convolutions of ``downsampling_block(c_in, c_out)``."""
    return [conv_spec("Conv2d", c_in, c_out, 3, 2, 1), conv_spec("Conv2d", c_out, c_out, 3, 1, 1)]


def up_specs(c_in: int, c_out: int) -> list[list]:
    """The two convolutions of ``upsampling_block(c_in, c_out)``."""
    return [
        conv_spec("ConvTranspose2d", c_in, c_out, 2, 2, 0),
        conv_spec("Conv2d", c_out, c_out, 3, 1, 1),
    ]


def spell_conv(spec: list) -> str:
    kind, c_in, c_out, kernel, stride, padding = spec
    return f"{kind}({c_in}, {c_out}, {kernel[0]}, stride={stride[0]}, padding={padding[0]})"


def expect_convs(found: list[list], expected: list[list], what: str) -> Verdict:
    """The convolutions of ``what`` are ``expected``; otherwise name the first that differs."""
    if len(found) != len(expected):
        listed = ", ".join(spell_conv(spec) for spec in found) or "none"
        return fail(
            f"{what} should hold {len(expected)} convolutions "
            f"({', '.join(spell_conv(spec) for spec in expected)}); found {listed}."
        )
    for index, (have, want) in enumerate(zip(found, expected, strict=True), start=1):
        if have != want:
            return fail(
                f"Convolution {index} of {what} is {spell_conv(have)}, expected {spell_conv(want)}."
            )
    return PASS


def conv_parameters(specs: list[list]) -> int:
    """Weights and biases of convolutions given as specs."""
    return sum(c_in * c_out * kernel[0] * kernel[1] + c_out for _, c_in, c_out, kernel, *_ in specs)


def fill_layers(bench: Bench, layers: list[nn.Module], gain: float = 1.0) -> None:
    """Seeded weights for Linear and convolution layers, scaled by 1 / sqrt(fan-in) so that
    values stay of order one through a deep stack."""
    with torch.no_grad():
        for layer in layers:
            if isinstance(layer, nn.ConvTranspose2d):  # weight (in, out, k, k), stride k
                fan_in = layer.weight.shape[0]
            else:  # weight (out, in, ...)
                fan_in = layer.weight[0].numel()
            scale = gain / math.sqrt(fan_in)
            layer.weight.copy_(
                bench.randn(*layer.weight.shape, scale=scale, dtype=layer.weight.dtype)
            )
            if layer.bias is not None:
                layer.bias.copy_(bench.randn(*layer.bias.shape, scale=0.1, dtype=layer.bias.dtype))


def fill_model(bench: Bench, model: nn.Module, gain: float = 1.0) -> None:
    """Seeded weights (:func:`fill_layers`) for every Linear and convolution of ``model``: its
    output carries its input through a deep stack, where PyTorch's default initialisation
    shrinks it to little more than the last biases."""
    fill_layers(
        bench, [m for m in model.modules() if isinstance(m, (nn.Linear, *CONVOLUTIONS))], gain
    )


def label_maps(bench: Bench, count: int, height: int, width: int, classes: int = 4):
    """Random (count, height, width) int64 label maps in 0 … classes - 1."""
    return bench.integers(count, height, width, high=classes)


def heart_maps(count: int, size: int, device) -> torch.Tensor:
    """(count, size, size) int64 toy hearts: an LV disc, a myocardial ring, an RV crescent.

    Map ``i`` is shifted by ``i`` pixels; the last map has no RV (an apical slice), so a
    class absent from both maps appears in the checks.
    """
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    maps = torch.zeros(count, size, size, dtype=torch.int64)
    for index in range(count):
        centre = size / 2 + index - count / 2
        radius = ((rows - centre) ** 2 + (cols - size / 2) ** 2).sqrt()
        rv = ((rows - centre) ** 2 + (cols - size / 2 + size / 4) ** 2).sqrt()
        if index != count - 1:
            maps[index][(rv < size / 4) & (radius >= size / 4)] = 1
        maps[index][radius < size / 4] = 2
        maps[index][radius < size / 6] = 3
    return maps.to(device)


class OneHotEncoder(TwoHeadEncoder):
    """A tiny VAE encoder for one-hot maps: flatten → Linear → ReLU → mu and logvar heads.

    It refuses anything but a float (N, classes, size, size) tensor, so a forward pass that
    feeds it the int64 labels learns why.
    """

    def __init__(self, classes: int, size: int, latent_dim: int, hidden: int = 12):
        super().__init__(classes * size * size, hidden, latent_dim)
        self.classes, self.size = classes, size
        self.received: list = []

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        expected = (self.classes, self.size, self.size)
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != expected:
            found = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise Mismatch(
                f"The encoder received {found}; it expects the one-hot maps, shape "
                f"(N, {self.classes}, {self.size}, {self.size}): encode to_onehot(labels)."
            )
        if not x.is_floating_point():
            raise Mismatch(
                f"The encoder received {x.dtype} maps; convolutions need floats: encode "
                "to_onehot(labels), which is float32."
            )
        self.received.append([list(x.shape), str(x.dtype)])
        return super().forward(x.flatten(1).to(self.mu_head.weight.dtype))


class LogitDecoder(nn.Module):
    """A tiny decoder: Linear(latent, classes · size²) reshaped to (N, classes, size, size)."""

    def __init__(self, classes: int, size: int, latent_dim: int):
        super().__init__()
        self.shape = (classes, size, size)
        self.fc = nn.Linear(latent_dim, classes * size * size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(z).reshape(len(z), *self.shape)


def seeded_cardiac_vae(bench: Bench, size: int = 8, latent_dim: int = 3, classes: int = 4):
    """(encoder, decoder) for the forward-pass checks: :class:`OneHotEncoder` and
    :class:`LogitDecoder`, seeded, on the bench's device."""
    encoder = OneHotEncoder(classes, size, latent_dim).to(bench.device)
    decoder = LogitDecoder(classes, size, latent_dim).to(bench.device)
    fill_layers(bench, linear_layers(encoder) + linear_layers(decoder), gain=1.5)
    return encoder, decoder


def floats(value: torch.Tensor) -> torch.Tensor:
    return value.to(torch.float64)


# --- to_onehot ------------------------------------------------------------------------------


class OnehotShape(Check):
    exercise = "to_onehot"
    title = "maps (N, H, W) int64 labels to (N, 4, H, W) float32"

    def probe(self, bench: Bench) -> dict:
        onehot = tensor(bench.get()(label_maps(bench, 2, 5, 6)), "the one-hot maps")
        return {"shape": list(onehot.shape), "dtype": str(onehot.dtype)}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] == [2, 5, 6, 4]:
            return fail(
                "The classes come last, (N, H, W, 4): F.one_hot puts them there. Move them to "
                "dimension 1 with .permute(0, 3, 1, 2), the layout convolutions expect."
            )
        if seen["shape"] != [2, 4, 5, 6]:
            return fail(
                f"Labels of shape (2, 5, 6) gave shape {tuple(seen['shape'])}, expected (2, 4, 5, 6)."
            )
        if seen["dtype"] != "torch.float32":
            return fail(
                f"The one-hot maps are {seen['dtype']}: convert them with .float(), since the "
                "encoder's convolutions take float32 inputs."
            )
        return PASS


class OnehotValues(Check):
    exercise = "to_onehot"
    title = "channel c is 1 exactly where the label is c (so channels sum to 1)"

    def probe(self, bench: Bench) -> dict:
        labels = heart_maps(2, 12, bench.device)
        onehot = tensor(bench.get()(labels), "the one-hot maps")
        return {"onehot": onehot, "labels": labels}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        onehot, labels = floats(seen["onehot"]), seen["labels"]
        if tuple(onehot.shape) != (2, 4, 12, 12):
            return fail(
                f"For two 12 × 12 maps the shape is {tuple(onehot.shape)}, expected (2, 4, 12, 12)."
            )
        expected = torch.stack([(labels == c) for c in range(4)], dim=1).to(torch.float64)
        return expect_close(
            onehot,
            expected,
            "The one-hot tensor",
            mistakes=[
                (
                    torch.stack([(labels == c) for c in range(3, -1, -1)], dim=1).to(torch.float64),
                    "the channels are in reverse order: channel c must mark label c.",
                ),
            ],
            otherwise="Channel c must be 1 where labels == c and 0 elsewhere, so the channels "
            "sum to 1 at every pixel.",
        )


# --- downsampling_block / upsampling_block -----------------------------------------------------


@family
class BlockShape(Check):
    """``exercise(*channels)`` maps (2, in, size, size) to (2, out, side, side), side =
    ``resize(size)``, for each of ``sizes``."""

    exercise: str
    title: str
    channels: tuple[int, int]
    sizes: tuple[int, ...]
    resize: Callable[[int], int]
    hint: str  # what makes the size right, ending the message

    def probe(self, bench: Bench) -> dict:
        c_in, c_out = self.channels
        block = module(bench.get()(c_in, c_out), self.built).to(bench.device)
        shapes = []
        for size in self.sizes:
            shapes.append(list(tensor(block(bench.randn(2, c_in, size, size)), "the output").shape))
        return {"shapes": shapes}

    @property
    def built(self) -> str:
        return f"{self.exercise}{self.channels}"

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        c_in, c_out = self.channels
        for size, found in zip(self.sizes, seen["shapes"], strict=True):
            want = [2, c_out, self.resize(size), self.resize(size)]
            if found != want:
                return fail(
                    f"{self.built} maps (2, {c_in}, {size}, {size}) to {tuple(found)}, "
                    f"expected {tuple(want)}: {self.hint}"
                )
        return PASS


@family
class BlockLayers(Check):
    """``exercise(*channels)`` holds exactly the two convolutions ``specs(*channels)``."""

    exercise: str
    title: str
    channels: tuple[int, int]
    specs: Callable[[int, int], list[list]]

    def probe(self, bench: Bench) -> dict:
        block = module(bench.get()(*self.channels), f"{self.exercise}{self.channels}")
        return {
            "convs": described_convs(block),
            "parameters": parameter_count(block),
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        expected, built = self.specs(*self.channels), f"{self.exercise}{self.channels}"
        verdict = expect_convs(seen["convs"], expected, built)
        if verdict.passed and seen["parameters"] != conv_parameters(expected):
            return fail(
                f"{built} has {seen['parameters']:,} parameters, expected "
                f"{conv_parameters(expected):,}: only the two convolutions (with biases) hold parameters."
            )
        return verdict


# --- ConvVAEEncoder -------------------------------------------------------------------------

SMALL_ENCODER = {"in_channels": 4, "image_size": 32, "latent_dim": 6, "channels": (4, 8)}
OTHER_ENCODER = {"in_channels": 4, "image_size": 16, "latent_dim": 5, "channels": (4, 8)}


def encoder_specs(in_channels: int, channels: tuple[int, ...]) -> list[list]:
    widths = (in_channels, *channels)
    return [spec for a, b in zip(widths, widths[1:], strict=False) for spec in down_specs(a, b)]


def head_size(module_: nn.Module | None) -> list[int] | None:
    if isinstance(module_, nn.Linear):
        return [module_.in_features, module_.out_features]
    return None


class EncoderParts(Check):
    exercise = "ConvVAEEncoder"
    title = "has features (downsampling blocks 4 → 4 → 8) and heads Linear(8 · 8 · 8, 6)"

    def probe(self, bench: Bench) -> dict:
        encoder = module(bench.get()(**SMALL_ENCODER), "ConvVAEEncoder(image_size=32, ...)")
        features = getattr(encoder, "features", None)
        return {
            "features": isinstance(features, nn.Sequential),
            "blocks": len(features) if isinstance(features, nn.Sequential) else None,
            "convs": described_convs(features),
            "mu_head": head_size(getattr(encoder, "mu_head", None)),
            "logvar_head": head_size(getattr(encoder, "logvar_head", None)),
            "shared": shares_one_head(encoder),
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        what = "ConvVAEEncoder(in_channels=4, image_size=32, latent_dim=6, channels=(4, 8))"
        if not seen["features"]:
            return fail(
                f"{what} needs an attribute `features`, an nn.Sequential of downsampling_blocks."
            )
        if seen["blocks"] != 2:
            return fail(
                f"`features` holds {seen['blocks']} modules; it should hold one downsampling_block "
                "per entry of channels (here 2: 4 → 4 and 4 → 8)."
            )
        verdict = expect_convs(seen["convs"], encoder_specs(4, (4, 8)), "`features`")
        if not verdict.passed:
            return verdict
        if seen["mu_head"] is None or seen["logvar_head"] is None:
            return fail(
                "The encoder needs attributes `mu_head` and `logvar_head`, each an nn.Linear."
            )
        if seen["shared"]:
            return fail("mu_head and logvar_head are the same layer: give each its own nn.Linear.")
        for name in ("mu_head", "logvar_head"):
            if seen[name] != [512, 6]:
                return fail(
                    f"{name} is Linear{tuple(seen[name])}, expected Linear(512, 6): two blocks "
                    "halve 32 twice to 8, so the flattened features hold 8 channels × 8 × 8 = 512 "
                    "numbers. Compute it from image_size and channels, do not hard-code it."
                )
        return PASS


# --- ConvDecoder ----------------------------------------------------------------------------

SMALL_DECODER = {"out_channels": 4, "image_size": 32, "latent_dim": 6, "channels": (8, 4)}


def decoder_specs(out_channels: int, channels: tuple[int, ...]) -> list[list]:
    pairs = list(zip(channels, channels[1:], strict=False)) + [(channels[-1], channels[-1])]
    specs = [spec for a, b in pairs for spec in up_specs(a, b)]
    return specs + [conv_spec("Conv2d", channels[-1], out_channels, 3, 1, 1)]


class DecoderParts(Check):
    exercise = "ConvDecoder"
    title = "has fc = Linear(6, 8 · 8 · 8), blocks 8 → 4 → 4 and head Conv2d(4, 4, 3, padding=1)"

    def probe(self, bench: Bench) -> dict:
        decoder = module(bench.get()(**SMALL_DECODER), "ConvDecoder(image_size=32, ...)")
        blocks, head = getattr(decoder, "blocks", None), getattr(decoder, "head", None)
        return {
            "fc": head_size(getattr(decoder, "fc", None)),
            "blocks": len(blocks) if isinstance(blocks, nn.Sequential) else None,
            "block_convs": described_convs(blocks),
            "head": describe_conv(head) if isinstance(head, CONVOLUTIONS) else None,
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["fc"] is None:
            return fail("The decoder needs an attribute `fc`, an nn.Linear from the latent code.")
        if seen["fc"] != [6, 512]:
            return fail(
                f"fc is Linear{tuple(seen['fc'])}, expected Linear(6, 512): with two blocks the "
                "maps start at s = 32 // 2**2 = 8 pixels, so fc makes channels[0] × s × s = 8 × 8 × 8 "
                "numbers. Compute s from image_size and len(channels)."
            )
        if seen["blocks"] != 2:
            return fail(
                f"`blocks` should be an nn.Sequential of 2 upsampling_blocks here (8 → 4, then "
                f"4 → 4); found {seen['blocks'] if seen['blocks'] is not None else 'none'}. One block "
                "per consecutive pair of channels, then one more that keeps channels[-1]."
            )
        verdict = expect_convs(seen["block_convs"], decoder_specs(4, (8, 4))[:-1], "`blocks`")
        if not verdict.passed:
            return verdict
        if seen["head"] != conv_spec("Conv2d", 4, 4, 3, 1, 1):
            found = spell_conv(seen["head"]) if seen["head"] else "missing"
            return fail(f"`head` is {found}, expected Conv2d(4, 4, 3, stride=1, padding=1).")
        return PASS


class DecoderOutputs(Check):
    exercise = "ConvDecoder"
    title = "maps (N, latent_dim) to logits (N, 4, 32, 32), with no final activation"

    def probe(self, bench: Bench) -> dict:
        decoder = module(bench.get()(**SMALL_DECODER), "ConvDecoder(image_size=32, ...)")
        fill_model(bench, decoder)  # else correct logits can all be ≥ 0, the head's biases
        with torch.no_grad():
            logits = tensor(decoder.to(bench.device)(bench.randn(3, 6, scale=2.0)), "the logits")
        return {
            "shape": list(logits.shape),
            "low": logits.min().item(),
            "sums": logits.sum(1).std().item(),
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] != [3, 4, 32, 32]:
            return fail(
                f"For 3 codes the decoder returns shape {tuple(seen['shape'])}, expected "
                "(3, 4, 32, 32): fc, reshape to (N, channels[0], s, s), the blocks, then the head."
            )
        if seen["low"] >= 0 and seen["sums"] < 1e-6:
            return fail(
                "The outputs look like probabilities (each pixel's values sum to 1): return raw "
                "logits, no softmax; F.cross_entropy applies log-softmax itself."
            )
        if seen["low"] >= 0:
            return fail(
                "Every output is ≥ 0: the head must be the last layer, with no ReLU (or other "
                "activation) after it. Logits can be any real number."
            )
        return PASS


# --- segmentation_loss ----------------------------------------------------------------------


def equal_logits(bench: Bench) -> tuple:
    logits = torch.zeros(2, 4, 6, 5, device=bench.device)
    return logits, label_maps(bench, 2, 6, 5)


UNIFORM = torch.full((2,), 30 * LN4)  # 30 pixels at probability 1/4 each


# --- dice_score -----------------------------------------------------------------------------


class DiceShape(Check):
    exercise = "dice_score"
    title = "returns (N, 3) floats in [0, 1], one column per structure (RV, MYO, LV)"

    def probe(self, bench: Bench) -> dict:
        pred, target = label_maps(bench, 5, 8, 8), label_maps(bench, 5, 8, 8)
        dice = tensor(bench.get()(pred, target), "the Dice scores")
        return {
            "shape": list(dice.shape),
            "floating": dice.is_floating_point(),
            "low": dice.min().item() if dice.numel() else 0.0,
            "high": dice.max().item() if dice.numel() else 0.0,
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] == [5, 4]:
            return fail(
                "You returned 4 columns: leave the background out. The columns are the classes "
                "1 … num_classes - 1 (RV, MYO, LV)."
            )
        verdict = expect_shape(torch.empty(seen["shape"]), (5, 3), "For 5 pairs of maps the Dice")
        if not verdict.passed:
            return verdict
        if not seen["floating"]:
            return fail("The Dice scores are integers: compute them in floating point (.float()).")
        if not (seen["low"] >= 0 and seen["high"] <= 1 + 1e-6):  # NaN fails too
            return fail(
                f"Dice values range over [{seen['low']:.3g}, {seen['high']:.3g}]; they lie in [0, 1]."
            )
        return PASS


class DiceSelf(Check):
    exercise = "dice_score"
    title = "is 1 for a map against itself, also for a class absent from both"

    def probe(self, bench: Bench) -> dict:
        maps = heart_maps(3, 16, bench.device)  # the last map has no RV
        return {"dice": tensor(bench.get()(maps, maps.clone()), "the Dice scores")}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        dice = seen["dice"]
        if tuple(dice.shape) == (3, 3) and not torch.isfinite(dice[2, 0]):
            return fail(
                "A class absent from both maps gives 0 / 0 = NaN: the contract scores it 1.0 "
                "(nothing to find, nothing found), e.g. with torch.where."
            )
        if tuple(dice.shape) == (3, 3) and abs(float(dice[2, 0])) < 1e-6:
            return fail("A class absent from both maps scored 0: the contract scores it 1.0.")
        return expect_close(
            floats(dice),
            torch.ones(3, 3, dtype=torch.float64),
            "Dice(map, map)",
            dtype=dice.dtype,  # held to the tolerance of the dtype the code produced
            otherwise="2·|P∩T| / (|P| + |T|) is 1 when P = T.",
        )


def dice_pair(bench: Bench) -> tuple:
    """RV only in the target, disjoint MYO, and LV with 2 of 3 pixels shared."""
    pred = torch.zeros(1, 4, 4, dtype=torch.int64)
    target = torch.zeros(1, 4, 4, dtype=torch.int64)
    pred[0, 0, :3] = 3  # 3 LV pixels
    target[0, 0, 1:] = 3  # 3 LV pixels, 2 shared: Dice 2·2 / 6
    pred[0, 3, :2] = 2  # 2 MYO pixels, none shared with the target's 4
    target[0, 2, :] = 2
    target[0, 3, 3] = 1  # RV only in the target: Dice 0
    return pred.to(bench.device), target.to(bench.device)


# --- cardiac_vae_forward --------------------------------------------------------------------


class ForwardOutputs(Check):
    exercise = "cardiac_vae_forward"
    title = "encodes to_onehot(labels) and returns a scalar loss and (N, 4, H, W) logits"

    def probe(self, bench: Bench) -> dict:
        encoder, decoder = seeded_cardiac_vae(bench)
        bench.reseed()
        loss, logits = pair(
            bench.get()(encoder, decoder, heart_maps(3, 8, bench.device)), "cardiac_vae_forward"
        )
        loss, logits = tensor(loss, "the loss"), tensor(logits, "the logits")
        return {
            "loss": list(loss.shape),
            "logits": list(logits.shape),
            "dtype": str(logits.dtype),
            "received": encoder.received,
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if not seen["received"]:
            return fail("The encoder was never called: mu, logvar = encoder(to_onehot(labels)).")
        if seen["loss"] != []:
            return fail(
                f"The loss has shape {tuple(seen['loss'])}: it must be a scalar, the mean over the "
                "batch of the per-map losses."
            )
        if seen["logits"] != [3, 4, 8, 8] or seen["dtype"] not in (
            "torch.float32",
            "torch.float64",
        ):
            return fail(
                f"The second output has shape {tuple(seen['logits'])} and dtype {seen['dtype']}; "
                "return the decoder's logits, (N, 4, H, W) floats, not a label map (no argmax)."
            )
        return PASS


def forward_terms(bench: Bench, beta: float) -> dict:
    """The loss of cardiac_vae_forward and its terms, from the student's own pieces."""
    encoder, decoder = seeded_cardiac_vae(bench)
    labels = heart_maps(4, 8, bench.device)
    bench.reseed()
    loss, logits = pair(bench.get()(encoder, decoder, labels, beta=beta), "cardiac_vae_forward")
    logits = tensor(logits, "the logits")
    if logits.dim() != 4 or not logits.is_floating_point():
        raise Mismatch(
            f"The second output has shape {tuple(logits.shape)} and dtype {logits.dtype}: return "
            "the decoder's logits, (N, 4, H, W) floats, not a label map."
        )
    with torch.no_grad():
        mu, logvar = encoder(bench.get("to_onehot")(labels))
    return {
        "loss": tensor(loss, "the loss"),
        "ce": tensor(bench.get("segmentation_loss")(logits, labels), "segmentation_loss"),
        "kl": tensor(bench.get("kl_divergence")(mu, logvar), "kl_divergence"),
    }


class ForwardLoss(Check):
    exercise = "cardiac_vae_forward"
    title = "loss is the batch mean of segmentation_loss + beta · kl_divergence"

    def probe(self, bench: Bench) -> dict:
        return forward_terms(bench, beta=0.25)

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        ce, kl = seen["ce"], seen["kl"]
        return expect_close(
            seen["loss"],
            (ce + 0.25 * kl).mean(),
            "With beta = 0.25 the loss",
            mistakes=vae.beta_mistakes(ce, kl, 0.25, recon_name="cross-entropy"),
            otherwise="It should equal (segmentation_loss(logits, labels) + beta * "
            "kl_divergence(mu, logvar)).mean().",
        )


# --- project_segmentation -------------------------------------------------------------------


def projection(bench: Bench, wide: bool = True) -> tuple:
    """A seeded VAE whose posteriors are wide (a sample lands far from mu), and toy maps."""
    encoder, decoder = seeded_cardiac_vae(bench)
    if wide:
        with torch.no_grad():
            encoder.logvar_head.bias.fill_(2.0)
    return encoder, decoder, heart_maps(4, 8, bench.device)


class ProjectOutputs(Check):
    exercise = "project_segmentation"
    title = "maps (N, H, W) int64 labels to (N, H, W) int64 labels in 0 … 3"

    def probe(self, bench: Bench) -> dict:
        encoder, decoder, labels = projection(bench)
        bench.reseed()
        result = tensor(bench.get()(encoder, decoder, labels), "the projected maps")
        return {
            "shape": list(result.shape),
            "dtype": str(result.dtype),
            "low": result.min().item(),
            "high": result.max().item(),
        }

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if seen["shape"] == [4, 4, 8]:
            return fail("The shape is (4, 4, 8): take the argmax over the classes, dimension 1.")
        if seen["shape"] != [4, 8, 8]:
            return fail(
                f"For 4 maps of 8 × 8 the projection has shape {tuple(seen['shape'])}, expected "
                "(4, 8, 8): argmax over the class dimension (dim=1) of the decoder's logits."
            )
        if seen["dtype"] != "torch.int64":
            return fail(
                f"The projection is {seen['dtype']}, expected int64 labels (argmax gives them)."
            )
        if seen["low"] < 0 or seen["high"] > 3:
            return fail(f"Labels range over {seen['low']} … {seen['high']}, expected 0 … 3.")
        return PASS


class ProjectDeterministic(Check):
    exercise = "project_segmentation"
    title = "is deterministic: decodes the mean, no sampling"

    def probe(self, bench: Bench) -> dict:
        encoder, decoder, labels = projection(bench)
        bench.reseed()
        first = tensor(bench.get()(encoder, decoder, labels), "the projected maps")
        second = tensor(bench.get()(encoder, decoder, labels), "the projected maps")
        return {"same": bool(torch.equal(first, second))}

    def judge(self, seen: dict, reference: dict | None) -> Verdict:
        if not seen["same"]:
            return fail(
                "Two projections of the same maps differ: decode mu, the mean of q(z | x), not a "
                "sample z = reparameterize(mu, logvar). A projection must be deterministic."
            )
        return PASS


CHECKS: list[Check] = identified(
    {
        "onehot-shape": OnehotShape(),
        "onehot-values": OnehotValues(),
        "down-shape": BlockShape(
            exercise="downsampling_block",
            title="maps (N, in, H, W) to (N, out, H/2, W/2)",
            channels=(4, 6),
            sizes=(16, 10),
            resize=lambda size: size // 2,
            hint="the first convolution has stride 2 and padding 1, the second stride 1 and "
            "padding 1.",
        ),
        "down-layers": BlockLayers(
            exercise="downsampling_block",
            title="is Conv2d(in, out, 3, stride=2, padding=1), Conv2d(out, out, 3, padding=1)",
            channels=(3, 5),
            specs=down_specs,
        ),
        "up-shape": BlockShape(
            exercise="upsampling_block",
            title="maps (N, in, H, W) to (N, out, 2H, 2W)",
            channels=(6, 4),
            sizes=(8, 5),
            resize=lambda size: 2 * size,
            hint="ConvTranspose2d with kernel 2 and stride 2 doubles the size; the Conv2d after "
            "it (kernel 3, padding 1) keeps it.",
        ),
        "up-layers": BlockLayers(
            exercise="upsampling_block",
            title="is ConvTranspose2d(in, out, 2, stride=2), Conv2d(out, out, 3, padding=1)",
            channels=(5, 3),
            specs=up_specs,
        ),
        "encoder-parts": EncoderParts(),
        # Other arguments than EncoderParts': code that hard-codes a size fails one of the two.
        "encoder-outputs": TwoHeads(
            exercise="ConvVAEEncoder",
            title="returns (mu, logvar), both (N, latent_dim), from one-hot maps",
            arguments=OTHER_ENCODER,
            built="ConvVAEEncoder(image_size=16, ...)",
            inputs=lambda bench: bench.uniform(3, 4, 16, 16),
            shape=(3, 5),
            wrong_shape="For 3 maps of 16 × 16 and latent_dim = 5, {name} has shape {found}, "
            "expected (3, 5): flatten the features per sample, x.flatten(1), before the heads.",
        ),
        "decoder-parts": DecoderParts(),
        "decoder-outputs": DecoderOutputs(),
        "ce-per-sample": PerSample(
            exercise="segmentation_loss",
            inputs=lambda bench: (bench.randn(3, 4, 6, 5), label_maps(bench, 3, 6, 5)),
            count=3,
            what="For 3 maps the loss",
        ),
        "ce-uniform": KnownValue(
            exercise="segmentation_loss",
            title="is H · W · ln 4 per map when the logits are all equal",
            inputs=equal_logits,
            expected=UNIFORM,
            what="With equal logits (every class at probability 1/4) the loss per 6 × 5 map",
            result="the loss",
            mistakes=[
                (
                    UNIFORM / 30,
                    "you averaged over the pixels (F.cross_entropy's default "
                    "reduction); sum over the pixels instead, reduction='none' then .sum over H and W.",
                ),
                (-UNIFORM, "the sign is flipped: the cross-entropy -log p(label) is ≥ 0."),
            ],
            otherwise="Each pixel contributes -log softmax(logits)[label] = ln 4.",
        ),
        "dice-shape": DiceShape(),
        "dice-self": DiceSelf(),
        "dice-known": KnownValue(
            exercise="dice_score",
            title="gives 2·|P∩T| / (|P| + |T|) on a small hand-made pair",
            inputs=dice_pair,
            expected=torch.tensor([[0.0, 0.0, 2 / 3]], dtype=torch.float64),
            what="For RV only in the target, disjoint MYO, and LV with 2 of 3 pixels shared, "
            "the Dice",
            result="the Dice",
            own_dtype=True,
            mistakes=[
                (
                    torch.tensor([[0.0, 0.0, 0.5]]),
                    "this is the IoU |P∩T| / |P∪T|; Dice is 2·|P∩T| / (|P| + |T|).",
                ),
                (
                    torch.tensor([[0.0, 0.0, 1 / 3]]),
                    "the factor 2 is missing: Dice = 2·|P∩T| / (|P| + |T|).",
                ),
                (
                    torch.tensor([[1.0, 0.0, 2 / 3]]),
                    "a class present in only one of the two maps scores 0, "
                    "not 1: only a class absent from both scores 1.",
                ),
            ],
        ),
        "forward-outputs": ForwardOutputs(),
        "forward-loss": ForwardLoss(),
        "project-outputs": ProjectOutputs(),
        "project-deterministic": ProjectDeterministic(),
    },
    vae.TABLE,
)
