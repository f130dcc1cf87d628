"""``aekit data acdc`` and ``aekit data phantoms``: the same from the command line, reporting
bad patients instead of stopping at the first."""

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from aekit.datasets.acdc.cache import ACDC_ENV, prepare_acdc, report_text
from aekit.datasets.acdc.layout import GROUPS
from aekit.datasets.acdc.phantoms import group_of, phantoms_ready, write_phantoms
from aekit.datasets.acdc.preprocess import Preprocessing
from aekit.datasets.acdc.split import SPLITS
from aekit.datasets.errors import DataError


def acdc_command(args: argparse.Namespace) -> int:
    """``aekit data acdc``: preprocess a tree, print the counts."""
    started = time.perf_counter()
    prep = Preprocessing(args.size, args.mode, args.spacing)
    cache = prepare_acdc(Path(args.root), prep, seed=args.seed, cache_dir=args.out)
    state = "built" if cache.built else "already up to date"
    print(f"ACDC maps {state} in {time.perf_counter() - started:.1f} s: {cache.path}")
    print(
        f"Split ({cache.manifest['dataset']}, seed {cache.manifest['seed']}): {cache.manifest['rule']}"
    )
    print(count_table(cache.path))
    if cache.report.skipped or cache.report.notes:
        print(report_text(cache.report), file=sys.stderr)
    return 0


def count_table(path: str | Path) -> str:
    """Patients and slices per split and group in a cache file, as a text table."""
    header = f"{'split':<6}" + "".join(f"{group:>12}" for group in GROUPS) + f"{'total':>12}"
    lines = [header, " " * 6 + "".join(f"{'pat/slices':>12}" for _ in range(len(GROUPS) + 1))]
    with np.load(path) as stored:
        for split in SPLITS:
            groups, patients = stored[f"{split}.groups"], stored[f"{split}.patients"]
            cells = []
            for group in (*GROUPS, None):
                chosen = groups == group if group else np.ones(len(groups), dtype=bool)
                cells.append(f"{len(set(patients[chosen].tolist()))}/{int(chosen.sum())}")
            lines.append(f"{split:<6}" + "".join(f"{cell:>12}" for cell in cells))
    return "\n".join(lines)


def phantoms_command(args: argparse.Namespace) -> int:
    """``aekit data phantoms``: write a phantom tree."""
    last = args.first_id + args.patients - 1
    if last > 999:
        raise DataError(
            f"patient numbers have three digits: --first-id + --patients - 1 is {last}, above 999"
        )
    out = Path(args.out_dir).expanduser()
    existing = phantoms_ready(out, args.patients, args.seed, args.first_id)
    started = time.perf_counter()
    folders = write_phantoms(out, args.patients, args.seed, args.first_id)
    counts = Counter(group_of(index, args.patients) for index in range(args.patients))
    groups = ", ".join(f"{group} {counts[group]}" for group in GROUPS if counts[group])
    verb = "Already there" if existing else f"Wrote in {time.perf_counter() - started:.1f} s"
    print(
        f"{verb}: {len(folders)} phantom patients ({folders[0].name}-{folders[-1].name}) in {out}"
    )
    print(f"Groups: {groups}")
    print(f"Next: aekit data acdc {out}   (or set {ACDC_ENV} only for real ACDC)")
    return 0
