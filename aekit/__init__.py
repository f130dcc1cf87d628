"""aekit: the library behind the autoencoder course kit.

Datasets, the training loop, metrics, plots, the latent explorer and the public checks the
notebooks call. It holds no exercise solution: those live only in ``source/``.
"""

__version__ = "0.1.0"
