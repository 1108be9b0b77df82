"""The protocol for any framework: discovery, declarations, verify, golden files, conform
and the pytest integration (issue #10)."""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import reference
from comparisons import catalogue, protocol
from comparisons.cli import main
from helpers import ROOT, cli

TESTS = ROOT / "tests"


def test_the_suites_implementations_arrive_through_the_entry_point_group():
    own = protocol.registered(own=True)
    assert own == {"reference": "reference", "jax": "jax_impl", "tensorflow": "tensorflow_impl",
                   "torch": "torch_impl", "torch-nn": "torch_nn_impl", "jax-optax": "jax_optax_impl",
                   "paddle": "paddle_impl", "paddle-nn": "paddle_nn_impl", "keras": "keras_impl",
                   "mindspore": "mindspore_impl"}
    assert set(protocol.registered()) >= set(own)  # plus any plugin installed beside it


def test_no_other_code_lists_the_implementations():
    """The registry is the only list: no module of the judge names torch_impl, jax_impl,
    tensorflow_impl or paddle_impl."""
    for path in (ROOT / "comparisons").rglob("*.py"):
        text = path.read_text()
        for module in ("torch_impl", "jax_impl", "tensorflow_impl", "paddle_impl"):
            assert module not in text, f"{path.relative_to(ROOT)} names {module}"


@pytest.mark.parametrize("declaration,message", [
    ({"name": "Bad Name"}, "name: 'Bad Name' is not a lower-case name"),
    ({"name": "x", "dtypes": ["float16"]}, "dtypes: unknown value 'float16'"),
    ({"name": "x", "colour": "red"}, "unknown field 'colour'"),
    ({"name": "x", "expected_failures": [{"case": "*"}]}, "missing required field 'reason'"),
    ({"name": "x", "expected_failures": [{"case": "*", "reason": "r", "when": 1}]},
     "unknown field 'when'"),
    ({"name": "x", "training": ["optimizer:sgd", "lr_schedule:cosin"]},
     "training: 'lr_schedule:cosin': unknown lr_schedule 'cosin'; expected one of constant, "
     "step, cosine"),
    ({"name": "x", "unsupported": [{"case": "*", "reason": "r", "training": ["decay"]}]},
     "training: 'decay': 'decay' needs a value, as in decay:coupled"),
])
def test_a_bad_declaration_is_one_line(tmp_path, monkeypatch, declaration, message):
    module = f"bad_decl_{abs(hash(message))}"  # one module per case: imports are cached
    (tmp_path / f"{module}.py").write_text(f"IMPLEMENTATION = {declaration!r}\n"
                                           "def train(case): pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(protocol.ProtocolError, match=message.replace("(", r"\(")):
        protocol.resolve(module)


def test_an_unknown_name_lists_the_registered_ones(capsys):
    assert main(["run", "reduction-sum", "--impl", "tensorflw"]) == 2
    err = capsys.readouterr().err
    assert ("unknown implementation 'tensorflw' (did you mean 'tensorflow'?); registered: "
            "reference,") in err


# --- verify -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def block(tmp_path_factory):
    """The reference's own results block for gd-minibatch, as run --json writes it."""
    import reference
    from comparisons import catalogue
    path = tmp_path_factory.mktemp("verify") / "block.json"
    path.write_text(json.dumps(reference.train(catalogue.get("gd-minibatch")).to_dict()))
    return path


def test_verify_accepts_agreeing_results(block, capsys):
    assert main(["verify", "gd-minibatch", str(block)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("PASS")


def test_verify_rejects_one_gradient_entry_changed_by_1e_9(block, tmp_path, capsys):
    doc = json.loads(block.read_text())
    doc["gradients"]["W1"][0][0] *= 1 + 1e-9
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["verify", "gd-minibatch", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "dW1" in out and "FAIL" in out


@pytest.mark.parametrize("edit,message", [
    (lambda d: d.pop("gradients"), "missing 'gradients'"),
    (lambda d: d["gradients"].pop("b1"), "gradients.b1: missing"),
    (lambda d: d.update(losses=d["losses"][:-1]), "losses: shape (80,), but the case requires (81,)"),
    (lambda d: d["final_params"].update(W1=[["x"]]), "final_params.W1: expected nested lists"),
])
def test_verify_bad_results_are_one_line(block, tmp_path, capsys, edit, message):
    doc = json.loads(block.read_text())
    edit(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["verify", "gd-minibatch", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


# --- golden files ---------------------------------------------------------------------------

def test_golden_bounds_judge_like_verify(tmp_path, capsys):
    """A golden file's bounds are verify's: the reference's block is within them, and the
    block with one gradient entry off by 1e-9 is outside them there and nowhere else."""
    import reference
    from comparisons import catalogue
    assert main(["export", str(tmp_path), "--case", "gd-minibatch", "--quiet"]) == 0
    g = json.loads((tmp_path / "gd-minibatch.json").read_text())
    assert g["format"] == "backprop-parity-golden/2"
    assert json.loads((tmp_path / "index.json").read_text())["cases"] == ["gd-minibatch"]
    sec = g["float64"]
    assert sec["judged"] == {"losses": 81, "not_judged": {}} and sec["kappa"] > 0
    r = reference.train(catalogue.get("gd-minibatch"))
    for name, t in sec["tensors"].items():
        assert [float.fromhex(h) for h in t["hex"]] == t["values"], name
        mine = np.ravel(r.gradients[name.split(".")[1]] if name.startswith("gradients.") else
                        r.final_params[name.split(".")[1]] if name.startswith("final_params.")
                        else getattr(r, name))
        assert np.all(np.abs(mine - t["values"]) <= t["bound"]), name
    dW1 = sec["tensors"]["gradients.W1"]
    assert abs(dW1["values"][0]) * 1e-9 > dW1["bound"][0]
    f32 = g["float32"]
    assert set(f32["inputs"]) >= {"X", "Y", "lr", "params.W1"}
    x = np.array(f32["inputs"]["X"]["values"])
    assert np.array_equal(x.astype(np.float32).astype(float), x)


# --- conform ---------------------------------------------------------------------------------

def _skip_all_but(tmp_path, keep):
    from comparisons import catalogue
    path = tmp_path / "skip.txt"
    path.write_text("# only what this test needs\n" + "".join(
        f"{n}  # not needed here\n" for n in catalogue.names() if n not in keep))
    return path


def test_conform_reports_coverage_xfail_and_skips(tmp_path):
    xfail = tmp_path / "xfail.txt"
    xfail.write_text("gd-batch  # a file-declared expected failure that passes: XPASS\n")
    args = ["conform", "plugins.declared", "--examples", "1", "--out", str(tmp_path / "r"),
            "--xfail", str(xfail), "--skip",
            str(_skip_all_but(tmp_path, {"reduction-sum", "gd-batch"})), "--quiet"]
    proc = cli(*args, pythonpath=[TESTS])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "r" / "conformance.json").read_text())
    status = {v["case"]: v["status"] for v in doc["verdicts"]}
    assert status["reduction-sum"] == "xfail" and status["gd-batch"] == "XPASS"
    from comparisons import catalogue
    assert set(doc["skipped"]) == set(catalogue.names()) - {"reduction-sum", "gd-batch"}
    assert len(doc["coverage"]) == len(catalogue.required())
    md = (tmp_path / "r" / "conformance.md").read_text()
    assert "| feature | value | results |" in md and "skipped (--skip): not needed here" in md


def test_conform_bad_xfail_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "xfail.txt"
    bad.write_text("gd-batch\n")
    assert main(["conform", "reference", "--xfail", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "expected 'case-glob[:float32|float64]  # reason'" in capsys.readouterr().err


def test_parametrize_with_checks_in_a_frameworks_own_pytest(tmp_path):
    """The pytest integration: passes pass, the declared failure is xfailed with its reason,
    and a failure outside the declared tensors fails."""
    (tmp_path / "test_conformance.py").write_text(textwrap.dedent("""
        from comparisons.conform import parametrize_with_checks

        @parametrize_with_checks("plugins.declared", examples=0,
                                 cases=["reduction-sum", "gd-batch"])
        def test_backprop_parity(check):
            check()

        @parametrize_with_checks("plugins.misbehaving", examples=0, cases=["gd-batch"])
        def test_a_drifting_implementation_fails(check):
            check()
        """))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rxX", "-p", "no:cacheprovider",
                           str(tmp_path)], capture_output=True, text=True, cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(TESTS), BP_MISBEHAVE="drift"))
    assert "1 failed, 1 passed, 1 xfailed" in proc.stdout, proc.stdout[-3000:]
    assert "its losses drift by 1e-9 on purpose" in proc.stdout
    assert "final W1: error/bound" in proc.stdout


@pytest.mark.parametrize("plugin, name", [
    pytest.param("plugins.undeclared", "undeclared", id="at-import"),
    pytest.param("plugins.lazy_undeclared", "lazy-undeclared", id="inside-train",
                 marks=pytest.mark.nightly("the second place a missing module is found, 14 s; "
                                           "CI finds one at import"))])
def test_a_plugins_missing_dependency_is_reported_once_as_cannot_run(tmp_path, plugin, name):
    """A module the plugin imports but this machine lacks is not 35 errors: one line naming
    it and how to install it, exit 3 (nothing compared), as for any implementation that
    cannot run here; found before any case at load time, or at the first run."""
    proc = cli("conform", plugin, "--quiet", "--out", tmp_path / "r", pythonpath=[TESTS],
               timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = (f"INCOMPLETE: {name} cannot run here: cannot import (ModuleNotFoundError: No module "
            "named 'bp_parity_no_such_dependency'); install it with `pip install "
            "bp_parity_no_such_dependency`")
    assert proc.stderr.startswith(line) and len(proc.stderr.splitlines()) == 1, proc.stderr
    # in the main job it is listed as not run, and the others are judged as usual
    proc = cli("--impl", "torch", plugin, "--cases", "gd-batch", "cover-identity-tanh", "--quiet",
               "--no-plots", "--out", tmp_path / "m", pythonpath=[TESTS], timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verdict, why = proc.stdout.splitlines()[-2:]  # the verdict names it; the next line says why
    assert verdict.startswith("PASS: 2 of 2 pairs agree") and f"not run: {name} (below)" in verdict
    assert len(verdict.split(" cases in ")[0]) < 200, verdict  # the verdict, before the times
    assert why.startswith(f"not run: {name}: cannot import")
    doc = json.loads((tmp_path / "m" / "results.json").read_text())
    assert name not in doc["implementations"] and "cannot import" in doc["missing"][name]


def test_a_failing_drawn_case_is_written_with_the_command_that_reruns_it(tmp_path):
    """conform's campaign: each failing drawn case becomes a case file beside the report, and
    the command it prints re-runs it to the same verdict."""
    env = {"BP_MISBEHAVE": "drift"}
    out = tmp_path / "r"
    proc = cli("conform", "plugins.misbehaving", "--examples", "2", "--seed", "3", "--quiet",
               "--out", out, "--skip", _skip_all_but(tmp_path, set()), pythonpath=[TESTS],
               env=env, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("failing drawn case ")]
    assert lines, proc.stderr
    command = lines[0].split("re-run with ", 1)[1].split()
    assert command[:4] == ["python", "-m", "comparisons", "run"]
    assert (out / "failing-cases").is_dir() and command[4].startswith(str(out / "failing-cases"))
    rerun = cli(*command[3:], "--quiet", pythonpath=[TESTS], env=env, timeout=300)
    assert rerun.returncode == 1 and "FAIL" in rerun.stdout.splitlines()[-1], rerun.stdout[-1500:]
    md = (out / "conformance.md").read_text()
    assert "## Failing drawn cases" in md and f"run {out}/failing-cases/" in md
    # conform leads to diagnose: every failing case gets its command, on the terminal and in
    # conformance.md, with a path that works from where conform ran
    found = [x for x in proc.stdout.splitlines() if ": diagnose with: " in x]
    assert found and "## Where each failure starts" in md, proc.stdout
    for line in found:
        cmd = line.split(": diagnose with: ", 1)[1]
        assert f"`{cmd}`" in md
        argv = cmd.split()
        assert argv[:4] == ["python", "-m", "comparisons", "diagnose"]
        assert (ROOT / argv[4]).exists() or argv[4] in catalogue.names(), argv[4]
    diag = cli(*found[0].split(": diagnose with: ", 1)[1].split()[3:], "--quiet", "--out",
               tmp_path / "d", pythonpath=[TESTS], env=env, timeout=300)
    assert diag.returncode == 1 and "first leaves its bound at update" in diag.stdout, diag.stdout


def test_declarations_that_match_one_case_are_merged():
    """paddle declares a bce loss-value defect (losses) and a gradient defect at z = 0 (all
    tensors, bce with relu): on relu-kink both apply, so every tensor is covered, and since
    neither is strict, a pass is a plain pass."""
    from comparisons import catalogue
    impl = protocol.resolve("paddle")
    x = impl.expected_failure(catalogue.get("relu-kink"))
    assert x.covers("db2") and x.covers("losses") and not x.strict
    assert "log1p" in x.reason and "exactly 0" in x.reason
    y = impl.expected_failure(catalogue.get("bce-confident"))  # sigmoid only: the loss value
    assert y.covers("losses") and not y.covers("db1")


# --- An environment of its own, and an implementation in any language (issue #21) ----------

def _plugin(tmp_path, name, declaration, body=""):
    """A plugin package `name` in tmp_path with this IMPLEMENTATION (and module body)."""
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text(f"IMPLEMENTATION = {declaration!r}\n{body}")
    return name


def _run(tmp_path, *args):
    """The CLI from tmp_path (so that a bare interpreter cannot find this package in its
    working directory), the plugins on PYTHONPATH."""
    return cli(*args, "--quiet", cwd=tmp_path, pythonpath=[tmp_path], timeout=300)


def test_a_missing_interpreter_is_one_line_and_nothing_is_run(tmp_path):
    name = _plugin(tmp_path, "bp_elsewhere", {"name": "elsewhere", "python": "venv/bin/python",
                                              "install": "bash make-venv.sh"},
                   "def train(case):\n    raise AssertionError('never run here')\n")
    proc = _run(tmp_path, "run", "gd-batch", "--impl", name)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    want = (f"elsewhere: its interpreter {tmp_path / 'venv' / 'bin' / 'python'} does not exist; "
            "set it up with: bash make-venv.sh")
    assert want in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stdout == "", proc.stdout  # refused before any work


def test_an_interpreter_without_this_package_is_named(tmp_path):
    """A bare venv (no NumPy, no backprop-parity) is found lacking before any work."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")],
                   check=True, timeout=120)
    name = _plugin(tmp_path, "bp_bare", {"name": "bare", "python": "venv/bin/python",
                                         "requires": ["numpy"]},
                   "def train(case):\n    raise AssertionError('never run here')\n")
    proc = _run(tmp_path, "run", "gd-batch", "--impl", name)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "its interpreter" in proc.stderr and "lacks numpy, backprop-parity" in proc.stderr, (
        proc.stderr)


def test_a_command_implementation_is_judged_and_its_failure_is_its_verdict(tmp_path):
    """A command in another language (here a shell script) reads the case file and writes
    the results block; one that exits 1 is an error of that implementation, named with its
    own error line; a program that is not installed is listed as not run."""
    good = tmp_path / "good"
    good.mkdir()
    # The "other language" copies the reference's block for this case: a correct run.
    block = tmp_path / "block.json"
    block.write_text(json.dumps(reference.train(catalogue.get("gd-batch")).to_dict()))
    (good / "run.sh").write_text(f"#!/bin/sh\ncp {block} \"$2\"\n")
    (good / "run.sh").chmod(0o755)
    _plugin(good, "bp_cmd_good", {"name": "cmd-good", "command": ["../run.sh", "{case}",
                                                                  "{results}"]})
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "run.sh").write_text("#!/bin/sh\necho 'TypeError: no such op' >&2\nexit 1\n")
    (bad / "run.sh").chmod(0o755)
    _plugin(bad, "bp_cmd_bad", {"name": "cmd-bad", "command": ["../run.sh", "{case}",
                                                               "{results}"]})
    _plugin(tmp_path, "bp_cmd_none", {"name": "cmd-none", "install": "apt install nothing",
                                      "command": ["bp-no-such-program", "{case}", "{results}"]})
    proc = cli("run", "gd-batch", "--impl", "bp_cmd_good", "bp_cmd_bad", "bp_cmd_none", "--quiet",
               pythonpath=[good, bad, tmp_path, TESTS], timeout=300)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "cmd-good vs reference" in out and re.search(r"cmd-good vs reference .* pass", out)
    assert "cmd-bad: RuntimeError: ../run.sh" in out and "exited 1: TypeError: no such op" in out
    assert "not run: cmd-none: bp-no-such-program is not installed; install it with: apt install nothing" in out
