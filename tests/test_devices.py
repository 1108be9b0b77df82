"""--device and --precision (comparisons/protocol/devices.py): bad input before any work, each
framework's float32 switches set for a run and restored after it, the same numbers on a CPU in
either mode, and what the manifest and the report record. GPU runs where a GPU exists."""

import json

import numpy as np
import pytest

from comparisons import catalogue, protocol

from comparisons.protocol import devices
from comparisons.cli import main
from helpers import assert_same_result, implementation, registered_names

WITH_PRECISION = [n for n in registered_names()
                  if "highest" in protocol.resolve(n).precisions and not protocol.resolve(n).missing()]
NO_CUDA = devices.cuda_missing()


def _one_line_exit_2(capsys, argv, contains):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and contains in err, err


@pytest.mark.parametrize("argv,contains", [
    (["run", "gd-batch", "--device", "tpu"], "--device: 'tpu' is not a device; expected one of"),
    (["run", "gd-batch", "--precision", "fast"], "--precision: 'fast' is not a precision mode"),
    (["--device", "quantum", "--out", "{tmp}"], "--device: 'quantum'"),
    (["conform", "torch", "--precision", "tf32", "--out", "{tmp}"], "--precision: 'tf32'"),
], ids=["run-device", "run-precision", "main-job-device", "conform-precision"])
def test_unknown_device_or_precision_is_bad_input(capsys, tmp_path, argv, contains):
    _one_line_exit_2(capsys, [a.replace("{tmp}", str(tmp_path / "r")) for a in argv], contains)
    assert not (tmp_path / "r" / "results.json").exists()


@pytest.mark.skipif(NO_CUDA is None, reason="this machine has a CUDA device")
@pytest.mark.parametrize("alias", ["cuda", "gpu"])
def test_cuda_without_a_gpu_is_bad_input_before_any_work(capsys, tmp_path, alias):
    _one_line_exit_2(capsys, ["--device", alias, "--out", str(tmp_path / "r")],
                     f"--device: '{alias}': ")
    assert not (tmp_path / "r" / "results.json").exists()


def test_hidden_devices_are_named(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert "CUDA_VISIBLE_DEVICES='-1' hides every device" in devices.cuda_missing()
    with pytest.raises(ValueError, match="expected cpu here"):
        devices.check("gpu", "default")
    assert devices.check("cpu", "highest") == ("cpu", "highest")


def test_default_options_reach_no_implementation():
    """At the defaults, train gets no options: a plugin that knows none runs as it always did."""
    assert devices.train_options("cpu", "default") == {}
    assert devices.train_options("cuda", "highest") == {"device": "cuda", "precision": "highest"}


def test_an_implementation_without_the_mode_is_skipped_not_run():
    impl = protocol.resolve("reference").__class__(**{
        **protocol.resolve("reference").__dict__, "precisions": ("default",)})
    case = catalogue.get("gd-batch")
    assert impl.unsupported(case, "cpu", "highest") == "precision highest is not supported"
    assert impl.unsupported(case, "cuda") == "device cuda is not supported"


@pytest.mark.parametrize("name", WITH_PRECISION)
def test_precision_is_set_for_the_run_and_restored_after_it(name):
    pkg = implementation(name)[1]
    with pkg.precision_mode("default") as before:
        pass
    with pytest.raises(RuntimeError):  # restored on error too
        with pkg.precision_mode("highest") as inside:
            assert inside["mode"] == "highest"
            changed = {k for k in inside if k != "mode" and inside[k] != before[k]}
            assert changed, f"{name}: 'highest' changed no setting: {inside}"
            raise RuntimeError
    with pkg.precision_mode("default") as after:
        assert after == before


@pytest.mark.parametrize("name", WITH_PRECISION)
def test_on_a_cpu_both_modes_compute_the_same_numbers(name):
    """No CPU library here uses TF32: the switch must change nothing on a CPU, bit for bit."""
    case = catalogue.get("shallow-3-4-1-float32").replace(epochs=3)
    pkg = implementation(name)[1]
    with np.errstate(all="ignore"):
        assert_same_result(pkg.train(case, precision="highest"), pkg.train(case), name)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=() if n != "tensorflow" else pytest.mark.nightly(
        "tensorflow's worker restarted with its precision settings, 15 s; CI records torch's "
        "and jax's")) for n in WITH_PRECISION])
def test_the_manifest_records_device_and_effective_precision(tmp_path, name):
    out = tmp_path / "r"
    code = main(["--impl", name, "--cases", "gd-batch", "shallow-3-4-1-float32",
                 "--precision", "highest", "--no-plots", "--quiet", "--out", str(out)])
    assert code == 0
    m = json.loads((out / "manifest.json").read_text())
    assert (m["device"], m["precision"]) == ("cpu", "highest")
    env = m["implementations"][name]
    assert env["device"] == "cpu" and env["precision"]["mode"] == "highest"
    rows = json.loads((out / "results.json").read_text())["device_matrix"]
    assert {(r["implementation"], r["dtype"], r["precision"]) for r in rows} == {
        (name, "float64", "highest"), (name, "float32", "highest")}
    assert all(r["failing"] == 0 and not r["tf32_note"] for r in rows)
    assert "## Device and precision" in (out / "report.md").read_text()


@pytest.mark.skipif(NO_CUDA is not None, reason=f"no CUDA device: {NO_CUDA}")
@pytest.mark.parametrize("name", [n for n in WITH_PRECISION
                                  if "cuda" in protocol.resolve(n).devices])
def test_float32_on_the_gpu_at_highest_precision_agrees(tmp_path, name):
    out = tmp_path / "r"
    code = main(["--impl", name, "--cases", "*float32", "--device", "cuda", "--precision",
                 "highest", "--no-plots", "--quiet", "--out", str(out)])
    rows = json.loads((out / "results.json").read_text())["device_matrix"]
    assert code == 0, rows
