"""Power at the catalogue's size, as figures: each planted bug (comparisons/catalogue/mutants.py,
BUGS) through the catalogue cases it can show in, with the verdict of every pair it takes
part in and the row that decides it.

    python tools/catalogue-mutants.py [--file optimizers.py] [--bugs 'adam-*' ...]
        [--scaled dW=1e-3 ...] [--cases 'optim-*' ...]

tests/test_mutations.py requires the main job to fail on each; this prints by how much
(TOLERANCES.md, "Optimizers" and "How sharp").
"""

import argparse
import fnmatch
import os
import sys
import tempfile
from pathlib import Path

from comparisons import catalogue, protocol
from comparisons.catalogue import mutants
from comparisons.execution import runner


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--file", help="only the bugs planted in this file of reference/")
    p.add_argument("--bugs", nargs="+", default=["*"], help="bug names (globs)")
    p.add_argument("--scaled", nargs="+", default=[], metavar="NAME=EPS",
                   help="also a relative error EPS planted in a SCALED formula (dW=1e-3)")
    p.add_argument("--cases", nargs="+", default=["*"], help="catalogue names (globs)")
    args = p.parse_args(argv)
    bugs = [m for m in mutants.BUGS if args.file in (None, m[1])
            and any(fnmatch.fnmatchcase(m[0], g) for g in args.bugs)]
    scaled = {m[0]: m for m in mutants.SCALED}
    for item in args.scaled:
        name, _, eps = item.partition("=")
        try:
            bugs.append(mutants.scaled(scaled[name], float(eps)))
        except (KeyError, ValueError):
            print(f"error: --scaled {item}: expected NAME=EPS with NAME one of "
                  f"{', '.join(scaled)}", file=sys.stderr)
            return 2
    cases = [catalogue.get(n) for n in catalogue.names()
             if any(fnmatch.fnmatchcase(n, g) for g in args.cases)]
    if not bugs or not cases:
        print("error: no bug or no case matches", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="catalogue-mutants-") as tmp:
        return measure(bugs, cases, Path(tmp))


def measure(bugs, cases, tmp: Path) -> int:
    sys.path.insert(0, str(tmp))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(tmp), os.environ.get("PYTHONPATH", "")])
    oracles = {}
    print(f"{'mutant':<36} {'case':<28} {'dtype':<8} {'verdict':<8} {'error/bound':>12}  row")
    for i, m in enumerate(bugs):
        package = f"catalogue_mutant_{i}"
        module = mutants.plant(tmp, package, m)
        impls = {"reference": protocol.resolve("reference"), package: protocol.resolve(module)}
        session = runner.run(cases, impls, oracles=oracles)
        for v in session.verdicts:
            if package not in v.pair or v.status == "pass":
                continue
            w = v.worst
            ratio, row = (w.worst_ratio, w.name) if w is not None else (float("nan"), v.message)
            print(f"{m[0]:<36} {v.case:<28} {v.dtype:<8} {v.status:<8} {ratio:>12.3g}  {row}",
                  flush=True)
        if not any(package in v.pair and v.failing for v in session.verdicts):
            print(f"{m[0]:<36} passes every case given", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
