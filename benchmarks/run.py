"""``make bench``: every benchmark of the kit, one after the other (machine quiet, please).

.venv/bin/python -m benchmarks.run [mnist grading classroom red_team agreement acdc cardiac]
"""

import importlib
import json
import sys
import time
from pathlib import Path

ALL = ["mnist", "grading", "classroom", "red_team", "agreement", "acdc", "cardiac"]


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or ALL
    unknown = [name for name in names if name not in ALL]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {ALL}", file=sys.stderr)
        return 2
    out = Path("build") / "bench"
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        start = time.perf_counter()
        print(f"\n=== {name} ===", flush=True)
        figures = importlib.import_module(f"benchmarks.{name}").main([])
        (out / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str))
        print(
            f"({name}: {time.perf_counter() - start:.0f} s; figures in {out / name}.json)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
