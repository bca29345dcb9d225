"""Compare two run caches: the same keys, and bit-identical arrays under each key.

    .venv/bin/python bench/compare_runs.py BEFORE/runs AFTER/runs

Used to check that a change which should move no pixel (a refactoring, a layout move) moved none: build
`--quick` into two caches, before and after, and compare them. Exit 0 when every key and array matches.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def arrays(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in folder.glob("*/*.npz")}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    before, after = (arrays(Path(a)) for a in argv)
    only_before, only_after = sorted(set(before) - set(after)), sorted(set(after) - set(before))
    differ, compared, values = [], 0, 0
    for key in sorted(set(before) & set(after)):
        with np.load(before[key]) as a, np.load(after[key]) as b:
            if sorted(a.files) != sorted(b.files):
                differ.append(f"{key}: arrays {sorted(a.files)} != {sorted(b.files)}")
                continue
            for name in a.files:
                compared += 1
                values += a[name].size
                if a[name].shape != b[name].shape or not np.array_equal(a[name], b[name], equal_nan=True):
                    differ.append(f"{key}: {name} differs")
    print(f"{len(before)} runs before, {len(after)} after; {len(set(before) & set(after))} keys in both, "
          f"{compared} arrays ({values:,} values) compared")
    for what, keys in (("only before", only_before), ("only after", only_after)):
        if keys:
            print(f"{what}: {len(keys)} ({', '.join(k[:12] for k in keys[:5])}…)")
    for line in differ[:20]:
        print(line)
    same = not (only_before or only_after or differ)
    print("identical" if same else f"DIFFERENT: {len(differ)} arrays")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
