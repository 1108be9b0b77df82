"""The documents cannot drift: every measured figure they quote equals what the current code
measures, and every file and test they cite exists."""

import re
from pathlib import Path

import pytest

from comparisons import figures
from helpers import ROOT, main_job

DOCS = ["README.md", "TOLERANCES.md", "ERRATA.md", "comparisons/GOLDEN.md", "docs/SPEC.md",
        "docs/SOURCES.md"]


@pytest.mark.main_job
@pytest.mark.parametrize("doc", ["README.md", "TOLERANCES.md"])
def test_documented_figures_are_the_measured_ones(doc):
    measured = figures.compute(main_job().doc)
    text = (ROOT / doc).read_text()
    assert figures.MARK.search(text), f"{doc} quotes no figure"
    wrong = figures.differences(text, measured)
    assert not wrong, (f"{doc}: run `python -m comparisons figures --update {doc}` after the "
                       f"main job; differing: {wrong}")


def test_figures_update_rewrites_only_the_marked_values():
    text = "a <!-- figure:worst-ratio -->9<!-- /figure --> b <!-- figure:nope -->x<!-- /figure -->"
    out = figures.update(text, {"worst-ratio": "0.1"})
    assert out == "a <!-- figure:worst-ratio -->0.1<!-- /figure --> b <!-- figure:nope -->x<!-- /figure -->"
    assert figures.differences(out, {"worst-ratio": "0.1"}) == [("nope", "x", "(no such figure)")]


PATH = re.compile(r"`((?:reference|torch_impl|jax_impl|comparisons|tests|tools|docs|notebooks|examples)"
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
