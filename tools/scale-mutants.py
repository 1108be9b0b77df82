"""Power at realistic width, as figures: each of issue #20's planted relative errors
(comparisons/catalogue/mutants.py, SCALED) on the wide catalogue cases and their other dtype, with its
verdict, worst error/bound and error/p-bound.

    python tools/scale-mutants.py [--factor F] [--cases tanh-float32 relu-float64 ...]
    python tools/scale-mutants.py --optimizers

--optimizers plants the nine optimizer bugs (BUGS in optimizers.py) in the wide AdamW case,
or the variant of it that exercises each (mutants.WIDE_VARIANTS), instead.

The relative error is 1e-4 in float32 and 1e-11 in float64 (what
tests/test_mutations.py requires) times F: --factor 0.1 measures the issue's goal, 1e-5 and
1e-12 (TOLERANCES.md, "How sharp").
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

from comparisons import protocol
from comparisons.catalogue import mutants
from comparisons.execution import runner


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--factor", type=float, default=1.0)
    p.add_argument("--cases", nargs="+", choices=list(mutants.WIDE),
                   default=list(mutants.WIDE))
    p.add_argument("--optimizers", action="store_true",
                   help="the optimizer bugs in the wide AdamW case instead")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="scale-mutants-") as tmp:
        return (optimizer_bugs if args.optimizers else measure)(args, Path(tmp))


def optimizer_bugs(args, tmp: Path) -> int:
    sys.path.insert(0, str(tmp))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(tmp), os.environ.get("PYTHONPATH", "")])
    print(f"{'bug':<34} {'case':<48} {'verdict':<8} {'error/bound':>12} {'error/p-bound':>14}"
          "  row")
    for i, m in enumerate(m for m in mutants.BUGS if m[1] == "optimizers.py"):
        case = mutants.wide_optimized_case(m[0])
        package = f"scale_optimizer_mutant_{i}"
        module = mutants.plant(tmp, package, m)
        impls = {"reference": protocol.resolve("reference"), package: protocol.resolve(module)}
        session = runner.run([case], impls)
        (v,) = [v for v in session.verdicts if v.pair[0] == package]
        w, wp = v.worst, v.worst_p
        print(f"{m[0]:<34} {case.name:<48} {v.status:<8} {w.worst_ratio:>12.3g} "
              f"{(wp.p_ratio if wp else float('nan')):>14.3g}  {w.name}", flush=True)
    return 0


def measure(args, tmp: Path) -> int:
    sys.path.insert(0, str(tmp))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(tmp), os.environ.get("PYTHONPATH", "")])
    oracles = {}
    print(f"{'case':<14} {'mutant':<26} {'verdict':<8} {'error/bound':>12} {'error/p-bound':>14}")
    for key in args.cases:
        case = mutants.wide_case(key)
        eps = (1e-4 if case.dtype == "float32" else 1e-11) * args.factor
        for i, m in enumerate(mutants.scaled_for(key)):
            mutant = mutants.scaled(m, eps)
            package = f"scale_mutant_{key.replace('-', '_')}_{i}"
            module = mutants.plant(tmp, package, mutant)
            impls = {"reference": protocol.resolve("reference"),
                     package: protocol.resolve(module)}
            session = runner.run([case], impls, oracles=oracles)
            (v,) = [v for v in session.verdicts if v.pair[0] == package]
            w, wp = v.worst, v.worst_p
            print(f"{key:<14} {mutant[0]:<26} {v.status:<8} {w.worst_ratio:>12.3g} "
                  f"{(wp.p_ratio if wp else float('nan')):>14.3g}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
