"""Two main jobs' results, number for number: what a change that must not change any result
(a refactoring) is checked with.

    python tools/compare-reports.py BEFORE_DIR AFTER_DIR

Compares the results.json of two report directories (`python -m comparisons --out DIR`) value
by value: every verdict, status, message, bound ratio, kappa, sensitivity and published
figure, each float exactly. Left out, and listed: run times (`seconds`), which are not
results, and the code's digest, which a change of code changes by design. Exit 0 when
nothing else differs, 1 with one line per difference (at most 50 shown) otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

IGNORED = {"seconds": "run times are not results", "cost": "the session's times",
           "digest": "the hash of the code that ran (a change of code changes it)"}


def differences(a, b, where: str = "") -> list[str]:
    """Where `a` and `b` (parsed JSON) differ, the IGNORED keys aside."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}.{k}: only in {'before' if k in a else 'after'}"
               for k in sorted(set(a) ^ set(b)) if k not in IGNORED]
        for k in a.keys() & b.keys():
            if k not in IGNORED:
                out += differences(a[k], b[k], f"{where}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items before, {len(b)} after"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    if type(a) is not type(b) or a != a and b == b or (a == a and a != b):  # nan equals nan
        return [f"{where}: {a!r} before, {b!r} after"]
    return []


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    docs = []
    for d in argv:
        path = Path(d) / "results.json"
        try:
            docs.append(json.loads(path.read_text()))
        except (OSError, ValueError) as e:
            print(f"error: {path}: {e}", file=sys.stderr)
            return 2
    found = differences(*docs)
    for line in found[:50]:
        print(line)
    if len(found) > 50:
        print(f"... and {len(found) - 50} more")
    pairs = len(docs[0].get("parity", []))
    ignored = "; ".join(f"{k}: {why}" for k, why in IGNORED.items())
    print(f"{'IDENTICAL' if not found else 'DIFFERENT'}: {pairs} pairs, {len(found)} "
          f"differences (left out: {ignored})")
    return 0 if not found else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
