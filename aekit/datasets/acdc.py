"""ACDC segmentation maps: the reader, the preprocessing, the split and the cache (in progress)."""


def register_commands(verbs) -> None:
    """Add ``aekit data acdc`` and ``aekit data phantoms`` to the ``data`` sub-commands."""
