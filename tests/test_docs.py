"""The documents cannot drift: every measured figure they quote equals what the current code
measures, and every file and test they cite exists."""

import json
import re
from pathlib import Path

import pytest

from comparisons.report import figures
from helpers import ROOT, main_job

# Every Markdown page of the project, the README's docs/ pages included
DOCS = sorted(str(p.relative_to(ROOT)) for pattern in ("*.md", "docs/*.md", "comparisons/*.md",
                                                       "examples/*/README.md", "tests/*/README.md",
                                                       "findings/README.md")
              for p in ROOT.glob(pattern))


FIGURE_DOCS = [d for d in DOCS if figures.MARK.search((ROOT / d).read_text())]


@pytest.mark.main_job
@pytest.mark.parametrize("doc", FIGURE_DOCS)
def test_documented_figures_hold_on_this_machine(doc):
    """Exact figures equal this machine's; figures of the reference's float64 arithmetic are
    within their derived machine-to-machine tolerance of it (comparisons/report/figures.py). Figures
    of the frameworks' kernels vary between machines, so only `figures --check --strict`, on
    the machine the document names, compares them."""
    job = main_job()
    measured = figures.compute(job.doc)
    text = (ROOT / doc).read_text()
    assert figures.MARK.search(text), f"{doc} quotes no figure"
    wrong = figures.differences(text, measured, figures.accepted(job.doc),
                                kinds=(figures.EXACT, figures.REFERENCE))
    assert not wrong, (f"{doc}: run `python -m comparisons figures --update {doc}` after the "
                       f"main job; differing: {wrong}")


@pytest.mark.parametrize("doc", FIGURE_DOCS)
def test_measured_figures_say_where_and_claim_only_what_holds_everywhere(doc):
    """A figure of the frameworks' kernels is quoted with where it was measured, and a quoted
    error/bound is one a passing run can have on any machine (<= 1)."""
    quoted = dict(figures.MARK.findall((ROOT / doc).read_text()))
    unknown = set(quoted) - set(figures.FIGURES)
    assert not unknown, f"{doc}: unknown figures {unknown}"
    kinds = {figures.FIGURES[k].kind for k in quoted}
    if figures.MEASURED in kinds:
        assert quoted.get("measured-on", "").strip(), f"{doc}: measured figures, no measured-on"
    for key in ("worst-ratio", "worst-step0-ratio"):
        if key in quoted:
            assert 0 <= float(quoted[key]) <= 1, (key, quoted[key])


def test_reference_figures_tolerate_another_machines_last_bits():
    """A value within the derived tolerance of this machine's is accepted, one outside is
    not: the tolerance admits kernel-order rounding and nothing a code change makes."""
    doc = {"kappa": {"a": 133.38743254830754, "b": 133.54556082522296, "c": 4.4701},
           "sensitivity": {"a": 6.3e-15, "b": 2.6e-14, "c": 8.8e-11},
           "min_margin": {"a": 74.0, "b": None}, "parity": [], "cases": {}}
    acc = figures.accepted(doc)
    assert acc["kappa-max"] == {"134"} and acc["kappa-min"] == {"4.47"}
    assert acc["kappa-max-case"] == {"b"}  # 133.39 is 1.2e-3 below: no machine swaps them
    doc["kappa"]["a"] = 133.5455  # 8e-7 below b: within 2 x KAPPA_RTOL, either may be largest
    assert figures.accepted(doc)["kappa-max-case"] == {"a", "b"}
    doc["kappa"]["c"] = 4.475  # prints 4.47 or 4.48 depending on the last bits
    assert figures.accepted(doc)["kappa-min"] == {"4.47", "4.48"}
    assert acc["sensitivity-worst-case"] == {"c"} and acc["min-margin"] == {"74"}


def test_figures_update_rewrites_only_the_marked_values():
    text = "a <!-- figure:worst-ratio -->9<!-- /figure --> b <!-- figure:nope -->x<!-- /figure -->"
    out = figures.update(text, {"worst-ratio": "0.1"})
    assert out == "a <!-- figure:worst-ratio -->0.1<!-- /figure --> b <!-- figure:nope -->x<!-- /figure -->"
    assert figures.differences(out, {"worst-ratio": "0.1"}) == [("nope", "x", "(no such figure)")]
    assert figures.differences(out, {"worst-ratio": "0.2"}, kinds=(figures.EXACT,)) == [
        ("nope", "x", "(no such figure)")]


PATH = re.compile(r"`((?:reference|torch_impl|jax_impl|tensorflow_impl|paddle_impl|comparisons|tests|"
                  r"tools|docs|notebooks|examples|findings)"
                  r"/[A-Za-z0-9_./-]+)`")
TEST = re.compile(r"(?<![/\w])(test_[a-z0-9_]+)(?![\w.])")


def _test_names() -> set[str]:
    names = set()
    for f in (ROOT / "tests").glob("test_*.py"):
        names |= set(re.findall(r"def (test_[a-z0-9_]+)\(", f.read_text()))
    return names


@pytest.mark.parametrize("doc", DOCS)
def test_cited_files_and_tests_exist(doc):
    text = (ROOT / doc).read_text()
    missing = [p for p in PATH.findall(text) if not (ROOT / p.split("::")[0]).exists()]
    tests = _test_names()
    unknown = [t for t in TEST.findall(text) if t not in tests and not t.endswith("_")]
    assert not missing and not unknown, (missing, unknown)


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS)
def test_relative_links_resolve(doc):
    """Every relative Markdown link [text](path) of the docs points at a file that exists."""
    base = (ROOT / doc).parent
    text = re.sub(r"`[^`]*`", "", (ROOT / doc).read_text())  # code spans are not links
    links = [p for p in LINK.findall(text) if "://" not in p]
    broken = [p for p in links if not (base / p).exists()]
    assert not broken, broken


def test_the_spec_names_every_reference_function_it_cites():
    """docs/SPEC.md's `module.function` pointers name functions that exist in reference/."""
    import importlib
    text = (ROOT / "docs" / "SPEC.md").read_text()
    cited = re.findall(r"`(activations|losses|network|training|case)\.([a-z_]+)`", text)
    assert len(cited) >= 12
    missing = [f"{m}.{f}" for m, f in cited
               if not hasattr(importlib.import_module(f"reference.{m}"), f)]
    assert not missing, missing


def test_the_readme_is_short_and_reaches_every_page():
    """A newcomer's README: what the project is, the two commands, what the main job shows,
    and where to go next; every page under docs/ is reachable from it."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    unreachable = [p.name for p in (ROOT / "docs").glob("*.md") if f"docs/{p.name}" not in text]
    assert not unreachable, unreachable
    assert "<!-- ci:install -->" in text and "<!-- ci:test -->" in text


@pytest.mark.main_job
def test_the_framework_table_is_the_reports():
    """docs/FRAMEWORKS.md, regenerated from this code's main job: every column that holds on
    any machine (frameworks, pinned versions, coverage, kink conventions, findings) is the
    page's; the counts and worst error/bound were measured where the page says."""
    from comparisons.execution.conventions import kink_conventions
    from comparisons.report import frameworks
    job = main_job()
    manifest_path = job.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    fresh = frameworks.rows(job.doc, manifest, (ROOT / "ERRATA.md").read_text(),
                           kink_conventions)
    page = frameworks.parse((ROOT / "docs" / "FRAMEWORKS.md").read_text())
    exact = lambda rows: [{c: r[c] for c in frameworks.EXACT} for r in rows]  # noqa: E731
    assert exact(page) == exact(fresh), ("run `python -m comparisons frameworks --update "
                                         "docs/FRAMEWORKS.md` after the main job")


@pytest.mark.parametrize("name", [
    "torch-nn",
    pytest.param("keras", marks=pytest.mark.nightly("Keras's policy in a process of its own, 6 s; "
                                                    "CI measures torch-nn's")),
    pytest.param("paddle-nn", marks=pytest.mark.nightly("paddle's auto_cast in a process of its "
                                                        "own, 4 s; CI measures torch-nn's"))])
def test_the_mixed_precision_table_is_what_each_framework_does_now(name):
    """docs/FRAMEWORKS.md's mixed-precision rows of an implementation are what its framework's
    own mechanism does in a fresh process (issue #32)."""
    from comparisons import protocol
    from comparisons.execution import autocast
    impl = protocol.resolve(name)
    if impl.missing():
        pytest.skip(f"{name} is not installed here")
    rows = autocast.markdown({name: autocast.policy(impl)})[2:]
    page = (ROOT / "docs" / "FRAMEWORKS.md").read_text().splitlines()
    assert rows and all(r in page for r in rows), (
        "run `python -m comparisons frameworks --update docs/FRAMEWORKS.md`:\n" + "\n".join(rows))


def test_each_worker_reports_the_kink_conventions_a_process_of_its_own_measures():
    """The table's relu'(0) and leaky_relu'(0) come from the main job's manifest, where each
    training worker put its implementation's: they are those that `kink_conventions`
    measures in a fresh process (torch's here; paddle's differ, ERRATA.md)."""
    from comparisons import protocol
    from comparisons.execution.conventions import kink_conventions
    job = main_job()
    envs = json.loads((job.out / "manifest.json").read_text())["implementations"]
    for name in ("torch", "paddle"):
        if name in envs:
            assert envs[name]["kink_conventions"] == list(
                kink_conventions(protocol.resolve(name))), name
    missing = [n for n in job.doc["implementations"] if n != "reference"
               and not protocol.resolve(n).command and "kink_conventions" not in envs[n]]
    assert not missing, f"no kink conventions in the manifest for {missing}"
