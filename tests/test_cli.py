"""python -m comparisons: its commands, its bad-input and resource lists (one line, exit 2,
nothing written, nothing large allocated), and what a new user hit (issue #9)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from comparisons import catalogue
from comparisons.cli import main
from helpers import ROOT, cli_measured, cli_popen, registered_names

TESTS = ROOT / "tests"


def write_case(tmp_path, mutate=None, name="case.json", base="shallow-3-4-1"):
    d = json.loads(catalogue.path(base).read_text())
    d["train"]["epochs"] = 5
    if mutate:
        mutate(d)
    p = tmp_path / name
    p.write_text(json.dumps(d))
    return p


def assert_one_line_exit_2(proc, *, contains=""):
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert contains in proc.stderr, proc.stderr


@pytest.mark.parametrize("sig, code, earlier", [
    pytest.param("SIGINT", 130, False, id="ctrl-c-new-out", marks=pytest.mark.nightly(
        "a second interrupted main job, 11 s; CI sends SIGTERM, which cli.py turns into the "
        "unwinding of Ctrl-C, with an earlier report to keep")),
    pytest.param("SIGTERM", 143, True, id="sigterm-earlier-report")])
def test_an_interrupted_main_job_writes_nothing_and_leaves_no_worker(tmp_path, sig, code, earlier):
    """Interrupted mid-run: exit 130 (Ctrl-C) or 143 (SIGTERM), no --out created, an earlier
    report left as it was, and every worker ended."""
    import signal

    import psutil
    out = tmp_path / "report"
    if earlier:
        out.mkdir()
        (out / "report.md").write_text("earlier")
    proc = cli_popen("--out", out, "--impl", "torch", "--no-plots", stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # progress: the workers are up and a case is judged
            if line.startswith("[2/"):
                break
        proc.send_signal(getattr(signal, sig))
        rest = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == code, rest[-2000:]
    assert "nothing was written" in rest and "Traceback" not in rest, rest[-2000:]
    if earlier:
        assert sorted(p.name for p in out.iterdir()) == ["report.md"]
        assert (out / "report.md").read_text() == "earlier"
    else:
        assert not out.exists()
    time.sleep(0.5)
    left = [p for p in psutil.process_iter(["cmdline"])
            if "comparisons.execution.workers" in " ".join(p.info["cmdline"] or [])
            and str(proc.pid) in (p.info["cmdline"] or [])]
    assert not left, left


# --- run --------------------------------------------------------------------------------------

def test_run_json_is_one_document_with_exact_floats(tmp_path, capsys):
    path = write_case(tmp_path)
    names = ["reference", "jax", "torch"]  # the format, not the frameworks: two suffice
    assert main(["run", str(path), "--json", "--quiet", "--impl", *names]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "pass" and set(doc["results"]) == set(names)
    from reference import load_case, train
    r = train(load_case(path))
    got = doc["results"]["reference"]
    assert np.array_equal(np.array(got["losses"]), r.losses)  # exact round trip
    assert np.array_equal(np.array(got["gradients"]["W1"]), r.gradients["W1"])
    assert set(got) >= {"losses", "gradients", "final_params", "final_outputs",
                        "initial_outputs", "seconds"} and len(got["losses"]) == 6
    others = [n for n in names if n != "reference"]
    assert {tuple(v["pair"]) for v in doc["parity"]} == {(n, "reference") for n in others} | {
        (a, b) for i, a in enumerate(others) for b in others[i + 1:]}
    assert all(v["worst_ratio"] <= 1 and v["worst_tensor"] for v in doc["parity"])


def test_run_accepts_a_catalogue_name(capsys):
    assert main(["run", "reduction-sum", "--impl", "jax", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "error/bound" in out and "at tensor" in out and out.strip().splitlines()[-1].startswith("PASS")


def test_run_float32_is_judged_against_the_float64_reference(capsys):
    assert main(["run", "reduction-sum", "--dtype", "float32", "--impl", "jax", "--json",
                 "--quiet"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dtype"] == "float32"
    assert {tuple(v["pair"]) for v in doc["parity"]} == {
        ("reference", "reference-float64"), ("jax", "reference-float64"), ("reference", "jax")}


def test_run_with_the_reference_alone_says_nothing_was_compared(capsys):
    """Before any work: the reference is not even trained, as in the main job."""
    assert main(["run", "reduction-sum", "--impl", "numpy", "--quiet"]) == 3
    out = capsys.readouterr()
    assert out.err.startswith("INCOMPLETE: nothing was compared") and len(out.err.splitlines()) == 1
    assert out.out == ""


def test_main_job_with_the_reference_alone_is_not_a_pass(tmp_path):
    proc, _ = cli_measured("--impl", "reference", "--out", str(tmp_path / "r"))
    assert proc.returncode == 3 and "PASS" not in proc.stdout + proc.stderr
    assert "INCOMPLETE: nothing was compared" in proc.stderr


def test_main_job_writes_the_report(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["--out", str(out), "--quiet", "--impl", "jax", "--cases", "reduction-sum",
                 "reduction-mean"]) == 0
    text = capsys.readouterr().out
    assert text.strip().splitlines()[-1].startswith("PASS: 2 of 2 pairs agree")
    assert "error/bound" in text and "info: max rel grad" in text
    assert {p.name for p in out.iterdir()} >= {"report.md", "results.json", "manifest.json", "plots"}
    assert (out / "plots" / "reduction-sum.png").stat().st_size > 10_000
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["backprop_parity"] and "commit" in manifest
    assert manifest["implementations"]["jax"]["jax_enable_x64"] is True
    report = (out / "report.md").read_text()
    assert "Parity table" in report and "| error/bound | at tensor |" in report
    assert "2⁻³⁶ times that update's own rounding bound" in report  # kappa: every update


def test_walkthrough_default_and_json(capsys):
    assert main(["walkthrough"]) == 0
    out = capsys.readouterr().out
    assert "0.75136506955231575" in out and "0.75136507" in out and "W2+[0,0]" in out
    assert main(["walkthrough", "mazur-simultaneous", "--json"]) == 0
    rows = {r["quantity"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert round(rows["W1+[0,0]"]["values"]["torch"], 9) == 0.149780716


def test_walkthrough_names_each_formula_and_where_every_implementation_computes_it(capsys):
    from comparisons import protocol
    from comparisons.commands import walkthrough
    assert main(["walkthrough", "--schedule", "simultaneous", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schedule"] == "simultaneous"
    rows = {r["quantity"]: r for r in doc["rows"]}
    assert rows["dW2[0,0]"]["formula"] == "dW[2] = dZ[2] . A[1]^T"
    assert rows["dA1[0,0]"]["formula"] == "dA[1] = W[2]^T . dZ[2]"  # the old W2: simultaneous
    assert all(isinstance(r["ulp"], int) and r["ulp"] >= 0 for r in doc["rows"])
    functions = {r["function"] for r in doc["rows"]}
    for name in registered_names():
        pkg = walkthrough.mirrored(protocol.resolve(name))
        if pkg is None:
            continue
        missing = [f for f in functions if not hasattr(getattr(pkg, f.split(".")[0]),
                                                       f.split(".")[1])]
        assert not missing, (name, missing)
    assert main(["walkthrough", "deep-relu", "--impl", "torch"]) == 0  # 4 layers: compact
    out = capsys.readouterr().out
    assert "compact:" in out and "-- backward, layer 1 " in out and "(+" in out
    assert main(["walkthrough"]) == 0
    assert "`--schedule simultaneous` shows textbook gradient descent" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["gd-minibatch"] + [
    pytest.param(c, marks=pytest.mark.nightly("another batched case through every framework, "
                                              "3-5 s; CI walks through gd-minibatch"))
    for c in ("gd-sgd", "deep-relu", "seed003-and", "cover-cce-sequential")])
def test_walkthrough_shows_every_implementation_on_batched_cases(case, capsys):
    """The first batch is taken from the case's arrays, so no framework's indexing rules can
    drop its column (TensorFlow's tensors reject an index array)."""
    from comparisons import protocol
    from comparisons.commands import walkthrough
    assert main(["walkthrough", case, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == {} and doc["exit_code"] == 0
    shown = set(doc["rows"][0]["values"])
    with_formulas = {n for n in registered_names()
                     if walkthrough.mirrored(protocol.resolve(n)) is not None
                     and not protocol.resolve(n).unsupported(catalogue.get(case))}
    assert with_formulas <= shown, with_formulas - shown


def test_walkthrough_an_implementation_that_raises_is_a_failure(monkeypatch, capsys):
    from comparisons.commands import walkthrough
    real = walkthrough.trace

    def broken(pkg, case, **kw):
        if pkg.network.__name__.startswith("torch_impl"):
            raise RuntimeError("deliberately broken")
        return real(pkg, case, **kw)
    monkeypatch.setattr(walkthrough, "trace", broken)
    assert main(["walkthrough", "gd-minibatch", "--impl", "torch"]) == 1
    out, err = capsys.readouterr()
    assert "FAIL: torch raised: RuntimeError: deliberately broken" in out
    assert "error: walkthrough: torch raised on gd-minibatch" in err
    assert main(["walkthrough", "gd-minibatch", "--impl", "torch", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == {"torch": "RuntimeError: deliberately broken"}
    assert set(doc["rows"][0]["values"]) == {"reference"}


def test_export_records_what_produced_its_numbers(tmp_path, capsys):
    # The worked example for two updates (its first is published), from a case file
    short = catalogue.get("mazur-sequential").to_dict()
    short.update(name="mazur-two-updates")
    short["train"]["epochs"] = 2
    (tmp_path / "short.json").write_text(json.dumps(short))
    assert main(["export", str(tmp_path / "golden"), "--case", str(tmp_path / "short.json"),
                 "gd-batch", "--quiet"]) == 0
    g = json.loads((tmp_path / "golden" / "mazur-two-updates.json").read_text())
    losses = g["float64"]["tensors"]["losses"]
    assert float.fromhex(losses["hex"][1]) == losses["values"][1]
    assert round(losses["values"][1], 9) == 0.291027924
    index = json.loads((tmp_path / "golden" / "index.json").read_text())
    assert index["cases"] == ["mazur-two-updates", "gd-batch"]
    assert set(index["manifest"]["implementations"]) == {"reference"}  # no jax x64 claim
    assert (tmp_path / "golden" / "GOLDEN.md").read_text().startswith(
        "# Golden vectors: format `backprop-parity-golden/2`")


# --- Bad input: one line, exit 2, nothing written ---------------------------------------------

BAD_INPUT = {
    "missing field": lambda d: d.pop("loss"),
    "misspelled field": lambda d: d.update(reduce=d.pop("reduction")),
    "unknown activation": lambda d: d.update(activations=["tanh", "gelu"]),
    "unknown loss": lambda d: d.update(loss="huber"),
    "wrong shape": lambda d: d.update(params={"W1": [[0.1] * 3] * 3, "b1": [[0]] * 4,
                                              "W2": [[0.1] * 4], "b2": [[0]]}) or d.pop("init"),
    "non-finite": lambda d: d.update(X=[[1e400] * 8] * 3, Y=[[0] * 8]) or d.pop("data"),
    "bce targets": lambda d: d.update(X=[[0.0] * 8] * 3, Y=[[2] * 8]) or d.pop("data"),
    "softmax without cce": lambda d: d.update(activations=["tanh", "softmax"]),
    "batch size": lambda d: d["train"].update(batch_size=0),
    "epochs": lambda d: d["train"].update(epochs=20_000_000),
    "unknown trainable": lambda d: d["train"].update(trainable=["W9"]),
    "batches beside epochs": lambda d: d["train"].update(batches=[[0, 1]]),
}


@pytest.mark.parametrize("what", BAD_INPUT)
def test_bad_input_is_one_line_and_exit_2(tmp_path, what):
    path = write_case(tmp_path, BAD_INPUT[what])
    proc, _ = cli_measured("run", str(path), "--json", cwd=tmp_path)
    assert_one_line_exit_2(proc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.json"]


# --- Cost is input too: refused before anything large is allocated -----------------------------

def _deep_json(tmp_path):
    p = tmp_path / "case.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    return p


RESOURCES = {
    "a hidden layer of 10^9 units": (lambda d: d.update(layers=[3, 10 ** 9, 1]), "cost: "),
    "data.m of 10^9": (lambda d: d["data"].update(m=10 ** 9), "cost: "),
    "two hidden layers of 10^5": (lambda d: d.update(layers=[3, 10 ** 5, 10 ** 5, 1],
                                                     activations=["tanh", "tanh", "sigmoid"]),
                                  "cost: "),
    "30,000 wide with a wrong activation list": (
        lambda d: d.update(layers=[3, 30_000, 1], activations=["tanh"]), "activations: "),
}


@pytest.mark.parametrize("what", RESOURCES)
def test_cost_is_refused_before_allocation(tmp_path, what):
    mutate, message = RESOURCES[what]
    path = write_case(tmp_path, mutate)
    t = time.perf_counter()
    proc, peak_mb = cli_measured("run", str(path), cwd=tmp_path)
    assert_one_line_exit_2(proc, contains=message)
    assert time.perf_counter() - t < 30 and peak_mb < 400, (time.perf_counter() - t, peak_mb)


def test_a_deeply_nested_file_is_refused_in_one_line(tmp_path):
    proc, _ = cli_measured("run", str(_deep_json(tmp_path)), cwd=tmp_path)
    assert_one_line_exit_2(proc, contains="nested too deeply")


def test_the_cost_message_names_the_estimate_and_the_limit(tmp_path):
    path = write_case(tmp_path, RESOURCES["two hidden layers of 10^5"][0])
    proc, _ = cli_measured("run", str(path), "--max-memory", "100M", cwd=tmp_path)
    assert_one_line_exit_2(proc, contains="needs an estimated")
    assert "the limit is 100.0 MiB (raise it with --max-memory)" in proc.stderr


def test_max_memory_raises_the_limit(tmp_path):
    path = write_case(tmp_path, lambda d: d.update(layers=[3, 2000, 1]))
    proc, _ = cli_measured("run", str(path), "--impl", "reference", "--max-memory", "10M", cwd=tmp_path)
    assert proc.returncode == 2 and "cost: " in proc.stderr
    proc, _ = cli_measured("run", str(path), "--impl", "reference", "--max-memory", "8G", cwd=tmp_path)
    assert proc.returncode == 3  # it ran (the reference alone: nothing compared)


# --- What a new user hit -------------------------------------------------------------------

def test_an_unwritable_out_fails_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    t = time.perf_counter()
    proc, _ = cli_measured("--out", str(blocker / "report"))
    assert_one_line_exit_2(proc, contains="--out: cannot write to")
    assert time.perf_counter() - t < 20


def test_list_into_a_closed_pipe_is_quiet(tmp_path):
    proc = subprocess.run(f"{sys.executable} -m comparisons list | head -2", shell=True,
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert len(proc.stdout.splitlines()) == 2 and proc.stderr == "", proc.stderr


@pytest.mark.parametrize("args", [["run", "reduction-sum", "--out", "x"],
                                  ["--no-plots", "run", "reduction-sum"],
                                  ["export", "d", "--impl", "torch"],
                                  ["list", "--quiet"]])
def test_options_are_offered_only_where_they_act(args):
    proc, _ = cli_measured(*args)
    assert_one_line_exit_2(proc)


@pytest.mark.parametrize("args", [["run", "does-not-exist.json"], ["run", "bad.json"],
                                  ["walkthrough", "no-such-case"], ["--impl", "tensorflw"],
                                  ["run"], ["--max-memory", "lots"], ["--timeout", "-1"],
                                  ["run", '{"name": "a case pasted in place of a file", '
                                          '"layers": [2, 1]' + 300 * " " + "}"]],
                         ids=["missing-file", "bad-json", "unknown-case", "unknown-impl",
                              "no-case", "bad-size", "bad-timeout", "too-long-for-a-path"])
def test_unreadable_file_and_bad_arguments(tmp_path, args, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    args = [str(tmp_path / a) if a.endswith(".json") else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_help_lists_the_exit_statuses():
    proc, _ = cli_measured("--help")
    assert proc.returncode == 0
    for line in ("0  every comparison made agrees", "1  a disagreement", "2  bad input",
                 "3  nothing was compared"):
        assert line in proc.stdout
    proc, _ = cli_measured("run", "--help")
    assert "exit status:" in proc.stdout and "--dtype" in proc.stdout and "--out" not in proc.stdout


def test_list_shows_the_catalogue_and_the_implementations(capsys):
    assert main(["list"]) == 0
    assert "mazur-sequential" in capsys.readouterr().out
    assert main(["list", "--impl"]) == 0
    out = capsys.readouterr().out
    assert {line.split()[0] for line in out.splitlines()} >= {"reference", "torch", "jax"}


def test_a_misbehaving_plugin_is_judged_in_the_main_job(tmp_path):
    """A plugin named by module path that crashes: an error verdict naming the cause, exit
    1, the other implementations still judged, no traceback, no process left behind."""
    proc, _ = cli_measured("--impl", "jax", "plugins.misbehaving", "--cases", "reduction-sum",
                      "--no-plots", "--quiet", "--out", str(tmp_path / "r"),
                      env={"BP_MISBEHAVE": "segfault"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "the worker died while training (signal SIGSEGV)" in proc.stdout
    assert "reduction-sum  float64  jax vs reference" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("FAIL: 1 of 3 pairs agree, 1 error, 1 skipped")


def test_the_console_script_is_the_same_command():
    """`backprop-parity` ([project.scripts]) beside `python -m comparisons`."""
    script = Path(sys.executable).with_name("backprop-parity")
    assert script.exists(), f"{script}: reinstall the package (pip install -e .)"
    listed = subprocess.run([str(script), "list"], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert listed.returncode == 0 and "mazur-sequential" in listed.stdout, listed.stderr
    bad = subprocess.run([str(script), "--bogus"], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: backprop-parity: "), bad.stderr


def test_a_failure_is_never_hidden_by_the_summary_or_the_plot(tmp_path, monkeypatch):
    """With a failing pair, the verdict line quotes the worst failing ratio first and the
    worst passing one apart; the note links the diagnosis; the plot's error axis holds every
    point, the failing ones included."""
    from comparisons.catalogue import mutants
    from comparisons import protocol, report
    from comparisons.execution import runner
    from comparisons.report import plots
    monkeypatch.syspath_prepend(str(tmp_path))
    module = mutants.plant(tmp_path, "hidden_mutant",
                           next(m for m in mutants.BUGS if m[0] == "db-averaged-again"))
    impls = {"reference": protocol.resolve("reference"), "torch": protocol.resolve("torch"),
             "hidden-mutant": protocol.resolve(module)}
    plotter = plots.Plotter(tmp_path / "plots")
    session = runner.run([catalogue.get("gd-batch")], impls, judged_case=plotter.case)
    line = report.verdict_line(session)
    assert line.startswith("FAIL: ") and "; worst failing error/bound " in line
    worst_fail = float(line.split("worst failing error/bound ")[1].split()[0])
    assert worst_fail > 1 and line.index("worst failing") < line.index("worst passing")
    assert "[diagnose: python -m comparisons diagnose gd-batch --impl hidden-mutant]" in (
        report.text_table(session.verdicts))
    lo, hi = plotter.limits["gd-batch"]
    job = session.oracles["gd-batch"]
    from comparisons.judge.parity import loss_bounds
    ratio = (np.abs(session.runs["gd-batch"]["hidden-mutant"].result.losses - job.base.losses)
             / loss_bounds(job.amp, job.case, "float64", "float64"))
    assert lo < ratio[ratio > 0].min() and ratio.max() < hi


def test_scale_reports_what_the_targets_ask_for_each_network(capsys):
    """`scale` on a small grid: one row per network, every trajectory tensor judged, and the
    memory estimate beside the processes' peaks."""
    assert main(["scale", "--width", "8", "16", "--updates", "3", "--activation", "relu",
                 "--dtype", "float64", "--schedule", "sequential", "--impl", "torch",
                 "--json", "--quiet"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [(r["width"], r["m"], r["updates"]) for r in rows] == [(8, 8, 3), (16, 16, 3)]
    for r in rows:
        assert r["verdict"] == "PASS" and r["trajectory_not_judged"] == 0
        assert r["slowest"] == "torch" and r["ratio"] > 0
        # the cost stated against the reference's own float64 run, once per implementation judged
        assert r["reference_s"] > 0 and r["ratio_reference"] == pytest.approx(
            r["wall_s"] / r["reference_s"])
        assert 0 < r["memory_estimate"] < r["memory_peaks"]  # imports dominate at this size


def test_the_memory_estimate_counts_only_the_implementations_that_run_the_case():
    """An implementation that declares a case unsupported is listed and holds none of its
    arrays: the estimate of wide-tanh-float32 with torch and twenty float64-only packages is
    torch's alone; with twenty float32 ones beside it, it exceeds that."""
    import dataclasses

    from comparisons import protocol
    from comparisons.commands import common
    from comparisons.execution import runner
    from comparisons.protocol import CaseError
    from comparisons.protocol.cost import case_cost
    case = catalogue.get("wide-tanh-float32")
    torch = protocol.resolve("torch")
    alone = case_cost(case).memory(1, len(runner.LOCAL_WORKERS))
    f64 = {f"f64-{i}": dataclasses.replace(torch, name=f"f64-{i}", dtypes=("float64",))
           for i in range(20)}
    common.check_cost([case], {"torch": torch, **f64}, alone)
    f32 = {f"f32-{i}": dataclasses.replace(torch, name=f"f32-{i}") for i in range(20)}
    with pytest.raises(CaseError, match="needs an estimated"):
        common.check_cost([case], {"torch": torch, **f32}, alone)


def test_scale_refuses_a_network_beyond_the_memory_limit_before_any_work():
    proc, _ = cli_measured("scale", "--width", "1024", "--updates", "100", "--impl", "torch")
    assert_one_line_exit_2(proc, contains="needs an estimated")


@pytest.mark.parametrize("argv,line", [
    (["run", "mazur-sequential", "--dtyp", "float32"],
     "error: python -m comparisons run: unrecognized arguments: --dtyp float32; did you mean "
     "--dtype?"),
    (["run", "mazur-sequential", "--dtpye", "float32"],
     "error: python -m comparisons run: unrecognized arguments: --dtpye float32; did you mean "
     "--dtype?"),
    (["walkthrough", "--compac"],
     "error: python -m comparisons walkthrough: unrecognized arguments: --compac; did you mean "
     "--compact?"),
    (["run", "mazur-sequentail"],
     "error: case: 'mazur-sequentail' is neither a catalogue case (see `python -m comparisons "
     "list`) nor a .json/.toml case file; did you mean 'mazur-sequential'?"),
], ids=["abbreviation", "misspelt-option", "walkthrough-option", "misspelt-case"])
def test_a_mistyped_command_line_is_named_with_its_command_and_a_guess(capsys, argv, line):
    """No abbreviation is taken for an option (`--dtyp` is not `--dtype`); the error names the
    subcommand it was given to, and the nearest option or case."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() == line


def test_not_judged_notes_are_one_line_per_case_and_reason():
    from comparisons import report
    from comparisons.judge.parity import TRAJECTORY, skipped
    from comparisons.judge.verdict import PairVerdict
    why = "from update 0 an update's rounding bound is as large as the parameters themselves"
    rows = [skipped(f"final {k}", (2, 2), TRAJECTORY, why) for k in ("W1", "b1", "A[L]")]
    verdicts = [PairVerdict("wide", "float32", pair, "pass", rows, 1.0)
                for pair in [("a", "reference-float64"), ("b", "reference-float64"), ("a", "b")]]
    verdicts.append(PairVerdict("other", "float64", ("a", "reference"), "pass",
                                rows[:1], 1.0))
    assert report.not_judged_notes(verdicts) == [
        f"wide: final W1, final b1, final A[L] not judged: {why}",
        f"other: final W1 not judged: {why}"]
    text = report.text_table(verdicts)
    assert text.count("not judged:") == 2



@pytest.mark.parametrize("compact", [False, True], ids=["full", "compact"])
def test_the_walkthrough_keeps_its_columns_and_marks_rows_outside_their_bound(
        tmp_path, monkeypatch, capsys, compact):
    """A plugin with sigmoid' off by 1e-6: ULP counts of ten digits stay in their column, and
    each row it puts outside its bound is marked, the rows before it not."""
    from comparisons.catalogue import mutants
    monkeypatch.syspath_prepend(str(tmp_path))
    module = mutants.plant(tmp_path, "bugfw", (
        "sigmoid-prime-off", "activations.py", "    A = sigmoid(Z)\n    return A * (1 - A)",
        "    A = sigmoid(Z)\n    return A * (1 - A) * (1 + 1e-6)"))
    assert main(["walkthrough", "mazur-sequential", "--impl", module, "torch"]
                + (["--compact"] if compact else [])) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(x for x in lines if x.startswith("quantity"))
    rows = [x for x in lines if x[:2] in ("Z1", "A1", "E ", "dZ", "dW", "db", "dA", "W1", "W2")]
    ulp_end = header.index("ulp") + 3
    for row in rows:  # the ULP column ends where its header does
        assert row[:ulp_end].rstrip()[-1].isdigit() and row[ulp_end:ulp_end + 1] in ("", " "), row
    marked = [r.split()[0] for r in rows if "<- outside its bound" in r]
    assert marked and marked[0].startswith("dZ2") and not any(
        r.split()[0].startswith(("Z", "A", "E")) for r in rows if "<- outside" in r)
    assert any("row(s) outside their bound" in x for x in lines)


def test_without_matplotlib_the_main_job_says_so_on_the_terminal(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    assert main(["--out", str(tmp_path / "r"), "--impl", "jax", "--cases", "reduction-sum",
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "note: matplotlib is not installed: no plots (pip install" in err
    assert not (tmp_path / "r" / "plots").exists()


def test_the_report_keeps_the_arrays_of_small_cases_only():
    """A wide case's runs keep their status and time in results.json, and say how to get
    their arrays; a small case's keep every number."""
    from comparisons.judge.verdict import Run
    from comparisons.report import document
    from reference import train
    small, wide = catalogue.get("gd-batch"), catalogue.get("wide-tanh-float32")
    assert document.result_elements(wide) > document.REPORT_RESULT_ELEMENTS
    assert document.result_elements(small) <= document.REPORT_RESULT_ELEMENTS
    run = {"reference": Run("reference", "ok", train(small), 0.5)}
    kept = document.runs_dict(run, small)["reference"]
    assert kept["losses"] and kept["seconds"] == 0.5
    dropped = document.runs_dict(run, wide)["reference"]
    assert set(dropped) == {"results", "seconds"}
    assert "python -m comparisons run wide-tanh-float32 --json" in dropped["results"]
