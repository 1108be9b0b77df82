"""The layout of the house (docs/DEVELOPING.md, "Layout"), checked from the source with `ast`:
imports run one way, no module imports a private name of another, imports inside functions only
defer a heavy framework or an optional dependency, and each folder imports only what its rule
allows. Every import counts, those inside functions included."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("reference", "comparisons", "torch_impl", "torch_nn_impl", "jax_impl", "jax_optax_impl",
            "tensorflow_impl", "paddle_impl", "paddle_nn_impl", "mindspore_impl")
# What a module may import inside a function: a framework (heavy, or absent where it is not
# installed) or an optional dependency. Anything else is imported at the top of the module.
DEFERRABLE = {"torch", "jax", "jaxlib", "tensorflow", "paddle", "mindspore", "matplotlib",
              "pytest", "mpmath", "psutil", "tomllib", "optax", "flax", "keras", "ml_dtypes"}

# Each folder's rule: the project's folders its modules may import (their own included).
# The order is the direction of the arrows: a folder imports only folders after it.
RULES = {
    "comparisons/cli.py": ("comparisons/commands", "comparisons/execution", "comparisons/report",
                           "comparisons/judge", "comparisons/catalogue", "comparisons/protocol",
                           "comparisons/__init__.py"),
    "comparisons/__main__.py": ("comparisons/cli.py",),
    "comparisons/conform.py": ("comparisons/commands",),
    "comparisons/commands": ("comparisons/execution", "comparisons/report", "comparisons/judge",
                             "comparisons/catalogue", "comparisons/protocol", "reference",
                             "comparisons/__init__.py"),
    "comparisons/execution": ("comparisons/judge", "comparisons/protocol", "reference"),
    "comparisons/report": ("comparisons/judge", "comparisons/catalogue", "comparisons/protocol"),
    "comparisons/judge": ("reference", "comparisons/protocol"),
    "comparisons/catalogue": ("comparisons/protocol",),
    "reference": ("comparisons/protocol",),
    "comparisons/protocol": (),
    "comparisons/__init__.py": (),
}
IMPLEMENTATIONS = ("torch_impl", "torch_nn_impl", "jax_impl", "jax_optax_impl", "tensorflow_impl",
                   "paddle_impl", "paddle_nn_impl", "mindspore_impl")
for _impl in IMPLEMENTATIONS:
    RULES[_impl] = ("comparisons/protocol",)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _folder(module: str) -> str:
    """The RULES key a module belongs to: the longest that contains it."""
    path = MODULES[module].relative_to(ROOT).as_posix()
    keys = [k for k in RULES if path == k or path.startswith(k + "/")]
    if not keys:
        raise AssertionError(f"{path} is in no folder of docs/DEVELOPING.md's layout")
    return max(keys, key=len)


def imports(module: str) -> list[tuple[str, str | None, int, bool]]:
    """(the project module imported, the name taken from it or None, line, inside a function)
    for every import of `module` of the project's own modules."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    in_function = {id(n) for f in ast.walk(tree)
                   if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        inside = id(node) in in_function
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno, inside) for a in node.names
                    if a.name.split(".")[0] in PACKAGES]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] not in PACKAGES:
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((sub, None, node.lineno, inside) if sub in MODULES
                           else (target, a.name, node.lineno, inside))
    return out


def external_in_functions(module: str) -> list[tuple[str, int]]:
    """(top-level package, line) of every import of a module outside the project inside a
    function of `module`."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for f in ast.walk(tree):
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for n in ast.walk(f):
                if isinstance(n, ast.Import):
                    out += [(a.name.split(".")[0], n.lineno) for a in n.names]
                elif isinstance(n, ast.ImportFrom) and not n.level and n.module:
                    out.append((n.module.split(".")[0], n.lineno))
    return [(m, line) for m, line in out if m not in PACKAGES]


def _defers_a_framework(module: str, importer: str) -> bool:
    """Whether importing `module` inside a function of `importer` defers a framework: it
    imports one at its top level, or, within one implementation package, anywhere (the
    package's entry points load its framework on first use, so that its declaration is read
    without it)."""
    tree = ast.parse(MODULES[module].read_text())
    if module.split(".")[0] in IMPLEMENTATIONS and module.split(".")[0] == importer.split(".")[0]:
        return any(pkg in DEFERRABLE for pkg, _ in external_in_functions(module)) or \
            _defers_a_framework(module, "")
    body = list(tree.body)
    while body:  # the module's own statements, those in a with or try block included
        n = body.pop()
        if isinstance(n, (ast.With, ast.Try, ast.If)):
            body += n.body + getattr(n, "orelse", []) + getattr(n, "finalbody", []) + [
                s for h in getattr(n, "handlers", []) for s in h.body]
            continue
        names = ([a.name for a in n.names] if isinstance(n, ast.Import) else
                 [n.module or ""] if isinstance(n, ast.ImportFrom) and not n.level else [])
        if any(x.split(".")[0] in DEFERRABLE for x in names):
            return True
    return False


def graph() -> dict[str, set[str]]:
    return {m: {t for t, _, _, _ in imports(m) if t in MODULES and t != m} for m in MODULES}


def test_every_module_is_found():
    assert {"reference.network", "comparisons.cli", "comparisons.judge.bounds",
            "comparisons.protocol.case", "torch_impl.network"} <= set(MODULES)


def test_no_import_cycle():
    """Imports, those inside functions included, form no cycle (Tarjan's strongly connected
    components: each must be one module)."""
    g, index, low, stack, on, cycles = graph(), {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                cycles.append(sorted(scc))
    for v in sorted(g):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_no_private_name_is_imported_across_modules():
    bad = [f"{MODULES[m].relative_to(ROOT)}:{line}: {name} from {target}"
           for m in MODULES for target, name, line, _ in imports(m)
           if name is not None and name.startswith("_") and target != m]
    bad += [f"{MODULES[m].relative_to(ROOT)}:{line}: {target}" for m in MODULES
            for target, _, line, _ in imports(m) if target.rpartition(".")[2].startswith("_")
            and not target.endswith("__init__")]
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def test_imports_inside_functions_only_defer_a_framework_or_an_optional_dependency():
    bad = [f"{MODULES[m].relative_to(ROOT)}:{line}: {target}"
           for m in MODULES for target, _, line, inside in imports(m)
           if inside and not (target in MODULES and _defers_a_framework(target, m))]
    bad += [f"{MODULES[m].relative_to(ROOT)}:{line}: {pkg}" for m in MODULES
            for pkg, line in external_in_functions(m) if pkg not in DEFERRABLE]
    assert not bad, ("imports inside functions that defer no framework (import them at the top "
                     "of the module):\n" + "\n".join(bad))


@pytest.mark.parametrize("folder", sorted(RULES))
def test_each_folder_imports_only_what_its_rule_allows(folder):
    """docs/DEVELOPING.md, "Layout": its table is RULES."""
    bad = []
    for m in MODULES:
        if _folder(m) != folder:
            continue
        for target, _, line, _ in imports(m):
            if target not in MODULES:
                continue
            there = _folder(target)
            if there != folder and there not in RULES[folder]:
                bad.append(f"{MODULES[m].relative_to(ROOT)}:{line}: imports {target} ({there})")
    assert not bad, f"{folder} may import only {', '.join(RULES[folder]) or 'itself'}:\n" + \
        "\n".join(bad)


def test_the_layout_table_in_developing_md_is_the_rules():
    """Every folder of RULES has its line in docs/DEVELOPING.md's layout, naming what it may
    import."""
    text = (ROOT / "docs" / "DEVELOPING.md").read_text()
    table = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    for folder, allowed in RULES.items():
        if folder in IMPLEMENTATIONS[1:]:
            continue  # the implementations share one line
        key = "*_impl" if folder in IMPLEMENTATIONS else folder
        line = next((x for x in table.splitlines() if x.startswith(f"| `{key}")), None)
        assert line is not None, f"docs/DEVELOPING.md's layout has no line for {key}"
        imports_cell = line.split("|")[3]
        named = set(re.findall(r"`([^`]+)`", imports_cell))
        assert named == set(allowed), (key, named, allowed)


def test_the_reference_holds_only_the_formulas_and_its_registration():
    """The seeds' formulas took 500 lines, the optimizers' 220 and reduced precision's
    roundings 90: a judge's machinery growing back into reference/ would show here."""
    lines = sum(len(p.read_text().splitlines()) for p in (ROOT / "reference").glob("*.py"))
    assert lines <= 850, f"reference/ has {lines} lines"
    assert sorted(p.name for p in (ROOT / "reference").glob("*.py")) == [
        "__init__.py", "activations.py", "case.py", "losses.py", "network.py", "optimizers.py",
        "precision.py", "training.py"]
    shim = (ROOT / "reference" / "case.py").read_text()
    assert "def " not in shim and "class " not in shim  # only the old import path


def test_the_command_line_is_parsing_and_dispatch():
    assert len((ROOT / "comparisons" / "cli.py").read_text().splitlines()) <= 250


def test_tools_import_no_test_module():
    for path in sorted((ROOT / "tools").glob("*.py")):
        text = path.read_text()
        assert not re.search(r"sys\.path.*tests", text), path  # no test folder on the path
        tree = ast.parse(text)
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        tests = {p.stem for p in (ROOT / "tests").glob("*.py")}
        assert not names & tests, (path, names & tests)


def test_a_cycle_and_a_private_import_are_found(tmp_path, monkeypatch):
    """The checks can fail: two modules that import each other, one a private name."""
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "a.py").write_text("from .b import _hidden\n")
    (tmp_path / "reference" / "b.py").write_text("def f():\n    from . import a\n_hidden = 1\n")
    found = {"reference.a": tmp_path / "reference" / "a.py",
             "reference.b": tmp_path / "reference" / "b.py"}
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "MODULES", found)
    assert graph() == {"reference.a": {"reference.b"}, "reference.b": {"reference.a"}}
    with pytest.raises(AssertionError, match="import cycles"):
        test_no_import_cycle()
    with pytest.raises(AssertionError, match="_hidden from reference.b"):
        test_no_private_name_is_imported_across_modules()
    with pytest.raises(AssertionError, match="reference/b.py:2: reference.a"):
        test_imports_inside_functions_only_defer_a_framework_or_an_optional_dependency()
