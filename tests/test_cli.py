"""python -m comparisons: the main job, run --json, walkthrough, export, and bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from comparisons import catalogue
from comparisons.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "comparisons", *args], capture_output=True,
                          text=True, cwd=cwd, check=False)


def write_case(tmp_path, mutate=None, name="case.json"):
    d = json.loads(catalogue.path("shallow-3-4-1").read_text())
    d["train"]["epochs"] = 5
    if mutate:
        mutate(d)
    p = tmp_path / name
    p.write_text(json.dumps(d))
    return p


def test_run_json_is_one_document_with_exact_floats(tmp_path, capsys):
    path = write_case(tmp_path)
    assert main(["run", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "pass" and set(doc["results"]) == {"numpy", "torch", "jax"}
    from reference import load_case, train
    r = train(load_case(path))
    got = doc["results"]["numpy"]
    assert np.array_equal(np.array(got["losses"]), r.losses)  # exact round trip
    assert np.array_equal(np.array(got["gradients"]["W1"]), r.gradients["W1"])
    assert set(got) >= {"losses", "gradients", "final_params", "final_outputs"}
    assert len(got["losses"]) == 6


def test_run_with_impl_and_dtype(tmp_path, capsys):
    path = write_case(tmp_path)
    assert main(["run", str(path), "--json", "--impl", "numpy", "jax", "--dtype", "float32"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["results"]) == {"numpy", "jax"} and doc["dtype"] == "float32"
    assert [v["pair"] for v in doc["parity"]] == [["jax", "numpy"]]


def test_walkthrough_shows_published_figures(capsys):
    assert main(["walkthrough"]) == 0
    out = capsys.readouterr().out
    assert "0.75136506955231575" in out and "0.75136507" in out and "W2+[0,0]" in out
    assert main(["walkthrough", "mazur-simultaneous", "--json"]) == 0
    rows = {r["quantity"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert round(rows["W1+[0,0]"]["values"]["torch"], 9) == 0.149780716


def test_export_writes_versioned_golden_files(tmp_path, capsys, monkeypatch):
    import comparisons.export as export
    monkeypatch.setattr(export.catalogue, "names", lambda: ["mazur-sequential", "gd-minibatch"])
    assert main(["export", str(tmp_path / "golden"), "--quiet"]) == 0
    g = json.loads((tmp_path / "golden" / "mazur-sequential.json").read_text())
    assert g["format"] == "backprop-parity-golden/1"
    assert float.fromhex(g["trajectory_hex"][1]) == g["trajectory"][1]
    assert round(g["trajectory"][1], 9) == 0.291027924
    assert g["step0"]["gradients"]["dW2"][0][0] == float.fromhex(g["step0"]["gradients_hex"]["W2"][0])
    assert len(json.loads((tmp_path / "golden" / "gd-minibatch.json").read_text())
               ["batch_order"]) == 80
    assert (tmp_path / "golden" / "GOLDEN.md").exists()
    assert json.loads((tmp_path / "golden" / "index.json").read_text())["cases"] == [
        "mazur-sequential", "gd-minibatch"]


def test_main_job_writes_the_report(tmp_path, monkeypatch, capsys):
    """The main job on two catalogue cases, numpy and jax (the full catalogue with torch in
    its worker process is what CI's install step runs)."""
    import comparisons.cli as cli
    monkeypatch.setattr(cli.catalogue, "names", lambda: ["mazur-simultaneous", "gd-batch"])
    out = tmp_path / "report"
    assert main(["--out", str(out), "--quiet", "--impl", "numpy", "jax"]) == 0
    text = capsys.readouterr().out
    assert "PASS" in text and "max rel grad" in text
    assert {p.name for p in out.iterdir()} >= {"report.md", "results.json", "manifest.json", "plots"}
    assert (out / "plots" / "gd-batch.png").stat().st_size > 10_000
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["jax_enable_x64"] is True and manifest["torch"].startswith("2.")
    report = (out / "report.md").read_text()
    assert "0.291027774" in report and "Parity table" in report


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
}


@pytest.mark.parametrize("what", BAD_INPUT)
def test_bad_input_is_one_line_and_exit_2(tmp_path, what):
    path = write_case(tmp_path, BAD_INPUT[what])
    proc = run_cli("run", str(path), "--json", "--out", str(tmp_path / "never"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.json"]


@pytest.mark.parametrize("args", [["run", "does-not-exist.json"], ["run", "bad.json"],
                                  ["walkthrough", "no-such-case"], ["--impl", "tensorflow"],
                                  ["run"]])
def test_unreadable_file_and_bad_arguments(tmp_path, args, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    args = [str(tmp_path / a) if a.endswith(".json") else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_missing_implementation_is_named_with_its_install_command(monkeypatch, capsys):
    import comparisons.runner as runner
    monkeypatch.setitem(runner.IMPL_MODULES, "torch", "torch_impl_not_installed")
    impls, missing = runner.available()
    assert set(impls) == {"numpy", "jax"}
    assert "torch_impl_not_installed" in missing["torch"]
    assert 'pip install -c constraints.txt -e ".[torch]"' in missing["torch"]


def test_walkthrough_of_a_minibatch_case_uses_the_first_batch(capsys):
    from comparisons.parity import RTOL, compare
    from helpers import result
    assert main(["walkthrough", "gd-minibatch", "--json"]) == 0
    rows = {r["quantity"]: r["values"] for r in json.loads(capsys.readouterr().out)["rows"]}
    for impl in ("numpy", "torch", "jax"):
        g = result("gd-minibatch", impl).gradients["W1"]
        got = np.array([[rows[f"dW1[{i},{k}]"][impl] for k in range(g.shape[1])]
                        for i in range(g.shape[0])])
        assert compare("dW1", got, g, RTOL["float64"]).ok
