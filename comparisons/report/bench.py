"""The benchmark's tables (`python -m comparisons bench`, comparisons/commands/bench.py), for
the terminal and for the main job's report."""

from __future__ import annotations

DTYPES = ["float32", "float64"]
GEMM_N = 1024  # the n of the n x n x n NumPy product whose rate the benchmark reports


def target_lines(doc) -> list[str]:
    out = []
    for t in doc["targets"]:
        v = "not measured" if t["value"] is None else f"{t['value']:.2f}"
        verdict = {True: "holds", False: "MISSED", None: "n/a"}[t["holds"]]
        out.append(f"{t['measure']} on {t['benchmark']} {t['dtype']}: {v} "
                   f"(target {t['op']} {t['limit']:.2f}): {verdict}")
    return out


def text_table(doc) -> str:
    g = doc["gemm_gflops"]
    lines = [f"{doc['rounds']} interleaved rounds; GEMM ({GEMM_N}^3, NumPy): "
             + ", ".join(f"{d} {g[d]:.1f} GFLOP/s" for d in DTYPES if g.get(d)),
             f"{'benchmark':<22} {'dtype':<8} {'impl':<11} {'per update':>11} {'spread':>7} "
             f"{'GFLOP/s':>8} {'of GEMM':>8}"]
    for r in doc["results"]:
        frac = f"{100 * r['fraction_of_gemm']:.3g}%" if r["fraction_of_gemm"] else "n/a"
        gf = f"{r['gflops']:.3g}" if r["gflops"] else "n/a"
        lines.append(f"{r['benchmark']:<22} {r['dtype']:<8} {r['impl']:<11} "
                     f"{_t(r['update_median_s']):>11} {100 * r['spread']:>6.0f}% {gf:>8} "
                     f"{frac:>8}")
    lines.append("ratios, median over rounds of the ratio within each round "
                 "(reference time / other; <= 1: the reference is faster):")
    for r in doc["ratios"]:
        lines.append(f"  {r['benchmark']:<22} {r['dtype']:<8} {r['ratio']:<22} "
                     f"{r['value']:.2f} (spread {100 * r['spread']:.0f}%)")
    lines.append("10,000-update worked example (sequential, whole run), wall time: "
                 + ", ".join(f"{k} {_t(v)}" for k, v in doc["trajectory_10000_s"].items()))
    lines += ["targets:"] + [f"  {x}" for x in target_lines(doc)]
    return "\n".join(lines)


def markdown_table(doc) -> str:
    g = doc["gemm_gflops"]
    md = [f"{doc['rounds']} interleaved rounds. GEMM rate measured in the same rounds: "
          + ", ".join(f"{d} {g[d]:.1f} GFLOP/s" for d in DTYPES if g.get(d)) + ".", "",
          "| benchmark | dtype | impl | per update | spread | GFLOP/s | of GEMM |",
          "|---|---|---|---|---|---|---|"]
    for r in doc["results"]:
        frac = f"{100 * r['fraction_of_gemm']:.3g}%" if r["fraction_of_gemm"] else "n/a"
        gf = f"{r['gflops']:.3g}" if r["gflops"] else "n/a"
        md.append(f"| {r['benchmark']} | {r['dtype']} | {r['impl']} | "
                  f"{_t(r['update_median_s'])} | {100 * r['spread']:.0f}% | {gf} | {frac} |")
    md += ["", "| benchmark | dtype | ratio | median | spread |", "|---|---|---|---|---|"]
    md += [f"| {r['benchmark']} | {r['dtype']} | {r['ratio']} | {r['value']:.2f} | "
           f"{100 * r['spread']:.0f}% |" for r in doc["ratios"]]
    md += ["", "10,000-update worked example (sequential), wall time: "
           + ", ".join(f"{k} {_t(v)}" for k, v in doc["trajectory_10000_s"].items()) + ".",
           ""] + [f"- {x}" for x in target_lines(doc)]
    return "\n".join(md)


def _t(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"
