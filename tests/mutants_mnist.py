"""Typical mistakes in the mnist_autoencoders exercises, each with its exact score.

Each mutant edits one exercise's solution cell of solutions/mnist_autoencoders; every other
exercise must keep full marks. Scores were verified with ``aekit grade``.
"""

from scenarios import Mutant

MUTANTS: list[Mutant] = [
    Mutant(
        "make_encoder",
        "encoder-final-relu",
        "nn.Linear(64, latent_dim),",
        "nn.Linear(64, latent_dim), nn.ReLU(),",
        1.0,
    ),
    Mutant(
        "make_encoder",
        "encoder-hardcoded-sizes",
        "nn.Linear(in_features, 128)",
        "nn.Linear(784, 128)",
        1.0,
    ),
    Mutant(
        "make_decoder",
        "decoder-no-sigmoid",
        "nn.Linear(128, out_features),\n        nn.Sigmoid(),",
        "nn.Linear(128, out_features),",
        1.0,
    ),
    Mutant("reconstruction_loss", "bce-mean-over-pixels", ".sum(dim=1)", ".mean(dim=1)", 0.5),
    Mutant(
        "reconstruction_loss",
        "bce-flattens-images-only",
        "per_pixel.reshape(len(x), -1).sum(dim=1)",
        "per_pixel.sum(dim=(1, 2, 3))",
        1.5,
    ),
    Mutant(
        "autoencoder_forward",
        "ae-sum-over-batch",
        "reconstruction_loss(x_hat, x).mean()",
        "reconstruction_loss(x_hat, x).sum()",
        1.0,
    ),
    Mutant(
        "VAEEncoder",
        "encoder-one-head",
        "self.logvar_head(features)",
        "self.mu_head(features)",
        1.5,
    ),
    Mutant(
        "reparameterize",
        "reparam-std-is-exp-logvar",
        "torch.exp(0.5 * logvar)",
        "torch.exp(logvar)",
        1.5,
    ),
    Mutant(
        "reparameterize",
        "reparam-noise-on-cpu",
        "torch.randn_like(mu)",
        "torch.randn(mu.shape)",
        2.5,
    ),
    Mutant("kl_divergence", "kl-wrong-sign", "return -0.5 *", "return 0.5 *", 1.0),
    Mutant("kl_divergence", "kl-missing-half", "return -0.5 *", "return -1.0 *", 1.0),
    Mutant("vae_forward", "vae-decodes-mu", "x_hat = decoder(z)", "x_hat = decoder(mu)", 1.5),
    Mutant(
        "vae_forward",
        "vae-beta-ignored",
        "+ beta * kl_divergence(mu, logvar)",
        "+ kl_divergence(mu, logvar)",
        2.0,
    ),
    Mutant(
        "interpolate",
        "interp-excludes-end",
        "torch.linspace(0.0, 1.0, steps,",
        "torch.linspace(0.0, 1.0, steps + 1,",
        0.0,
    ),
]
