"""The phantom generator's first address; it lives in :mod:`aekit.datasets.acdc.phantoms`, in
the ACDC package whose layout it writes, so that the package and it import in one direction."""

from aekit.datasets.acdc.phantoms import phantoms_ready, write_phantoms

__all__ = ["phantoms_ready", "write_phantoms"]
