"""Typical mistakes in the cardiac_autoencoders exercises, each with its exact score.

Each mutant edits one exercise's solution cell of solutions/cardiac_autoencoders; every other
exercise must keep full marks. Scores were verified with ``aekit grade``.
"""

from scenarios import Mutant

CARDIAC = "cardiac_autoencoders"

MUTANTS: list[Mutant] = [
    Mutant(
        "to_onehot",
        "onehot-classes-last",
        ".permute(0, 3, 1, 2).float()",
        ".float()",
        0.0,
    ),
    Mutant(
        "to_onehot",
        "onehot-not-float",
        ".permute(0, 3, 1, 2).float()",
        ".permute(0, 3, 1, 2)",
        1.0,
    ),
    Mutant(
        "downsampling_block",
        "down-stride-on-second-conv",
        "kernel_size=3, stride=2, padding=1),\n        nn.ReLU(),\n"
        "        nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),",
        "kernel_size=3, padding=1),\n        nn.ReLU(),\n"
        "        nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=2, padding=1),",
        1.0,
    ),
    Mutant(
        "downsampling_block",
        "down-no-final-relu",
        "kernel_size=3, padding=1),\n        nn.ReLU(),\n    )",
        "kernel_size=3, padding=1),\n    )",
        1.5,
    ),
    Mutant(
        "upsampling_block",
        "up-upsample-then-conv",
        "nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2),",
        "nn.Upsample(scale_factor=2),\n"
        "        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),",
        1.0,
    ),
    Mutant(
        "upsampling_block",
        "up-no-final-relu",
        "kernel_size=3, padding=1),\n        nn.ReLU(),\n    )",
        "kernel_size=3, padding=1),\n    )",
        1.5,
    ),
    Mutant(
        "ConvVAEEncoder",
        "encoder-hardcoded-flatten",
        "flat = channels[-1] * side * side",
        "flat = 128 * 8 * 8",
        0.5,
    ),
    Mutant(
        "ConvVAEEncoder",
        "encoder-swapped-heads",
        "return self.mu_head(flat_features), self.logvar_head(flat_features)",
        "return self.logvar_head(flat_features), self.mu_head(flat_features)",
        2.5,
    ),
    Mutant(
        "ConvDecoder",
        "decoder-relu-after-fc",
        "start = self.fc(z).reshape",
        "start = torch.relu(self.fc(z)).reshape",
        2.0,
    ),
    Mutant(
        "ConvDecoder",
        "decoder-softmax",
        "return self.head(self.blocks(start))",
        "return self.head(self.blocks(start)).softmax(dim=1)",
        1.5,
    ),
    Mutant(
        "segmentation_loss",
        "ce-mean-over-pixels",
        ".sum(dim=1)",
        ".mean(dim=1)",
        1.0,
    ),
    Mutant(
        "segmentation_loss",
        "ce-softmax-first",
        "F.cross_entropy(logits, labels,",
        "F.cross_entropy(logits.softmax(dim=1), labels,",
        1.5,
    ),
    Mutant(
        "dice_score",
        "dice-absent-class-scores-zero",
        "scores.append(torch.where(sizes > 0, dice, torch.ones_like(dice)))",
        "scores.append(dice)",
        1.5,
    ),
    Mutant(
        "dice_score",
        "dice-is-iou",
        "dice = 2 * overlap / sizes.clamp(min=1)",
        "dice = overlap / (sizes - overlap).clamp(min=1)",
        1.5,
    ),
    Mutant(
        "cardiac_vae_forward",
        "forward-decodes-mu",
        "logits = decoder(z)",
        "logits = decoder(mu)",
        1.5,
    ),
    Mutant(
        "cardiac_vae_forward",
        "forward-beta-on-cross-entropy",
        "segmentation_loss(logits, labels) + beta * kl_divergence(mu, logvar)",
        "beta * segmentation_loss(logits, labels) + kl_divergence(mu, logvar)",
        2.0,
    ),
    Mutant(
        "project_segmentation",
        "project-decodes-a-sample",
        "return decoder(mu).argmax(dim=1)",
        "return decoder(reparameterize(mu, _)).argmax(dim=1)",
        1.0,
    ),
    Mutant(
        "project_segmentation",
        "project-argmax-last-dim",
        "return decoder(mu).argmax(dim=1)",
        "return decoder(mu).argmax(dim=-1)",
        0.5,
    ),
]
