"""The implementation protocol: how any framework's implementation is found, described and run.

An implementation is a Python module (usually a package's __init__) that exposes

    IMPLEMENTATION = {"name": "torch", ...}      a declaration, plain data (see FIELDS)
    def train(case, **options) -> TrainResult     the run (protocol.case, protocol.results)
    def environment(**options) -> dict            optional: versions and settings, for the
                                                  manifest of every report (receives the
                                                  run's device and precision, if not default)

and the mirrored per-formula functions if it wants the walkthrough; optionally also
`precision_mode(precision)` (a context manager that sets and restores its float32 matmul
switches) and the data-parallel entries (FIELDS, "data_parallel"); FUNCTIONS lists them all. Importing the module must
be cheap and must not import the framework (the declaration is read in the judge's process;
`train` runs in a worker process of its own, where the framework is imported).

Implementations are found through the entry-point group GROUP (named after the distribution),
`name = "module"`; the judge's own implementations arrive the same way (pyproject.toml). A
module that is not registered can be named directly by its import path (`--impl pkg.mod`).
`reference` is the oracle: every implementation is judged against it, and no declaration
changes a verdict about another implementation.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from .case import (ACTIVATIONS, DTYPES, LOSSES, PLAIN_TRAINING, REDUCTIONS, SCHEDULES,
                   precision_features, training_features, unknown_precision_feature,
                   unknown_training_feature)
from .devices import DEVICES, PRECISIONS

GROUP = "backprop_parity.implementations"
# What an implementation module may offer beside its declaration (docs/FRAMEWORK-AUTHORS.md):
# train is required, the others optional.
FUNCTIONS = ("train", "environment", "precision_mode", "train_data_parallel",
             "train_data_parallel_many", "data_parallel_missing", "data_parallel_environment")
ORACLE = "reference"
# A command implementation's worker (comparisons/execution/command.py) learns its command from
# these environment variables.
ENV_COMMAND = "BACKPROP_PARITY_COMMAND"      # the argument list, JSON
ENV_DIRECTORY = "BACKPROP_PARITY_COMMAND_DIR"  # where it runs
ENV_ENVIRONMENT = "BACKPROP_PARITY_COMMAND_ENV"  # the command that prints its environment
# Aliases accepted wherever an implementation is named.
ALIASES = {"numpy": ORACLE, "tf": "tensorflow"}

# Declaration fields: (type, default). A tuple default lists every allowed value.
FIELDS = {
    "name": (str, None),
    "description": (str, ""),
    "requires": (list, ()),          # modules that must be importable (checked, not imported)
    "install": (str, ""),            # the command that installs what `requires` names
    "dtypes": (list, DTYPES),
    "schedules": (list, SCHEDULES),
    "activations": (list, ACTIVATIONS),
    "losses": (list, LOSSES),
    "reductions": (list, REDUCTIONS),
    # The updates it runs, as protocol.case.training_features names them; fnmatch patterns
    # ("optimizer:*"). The default is W -= lr dW at a constant lr: an optimizer, a schedule,
    # decay or clipping it does not list is skipped and listed, never run another way.
    "training": (list, PLAIN_TRAINING),
    # The reduced-precision policies it runs (docs/CASES.md, "Reduced precision"), as
    # protocol.case.precision_features names their fields; fnmatch patterns ("compute:*").
    # The default is none: a case with a policy is skipped and listed, never run in float32.
    "reduced_precision": (list, ()),
    "devices": (list, ("cpu",)),     # train(case, device=...) for any but "cpu"
    "precisions": (list, ("default",)),  # train(case, precision=...) for "highest"
    "data_parallel": (bool, False),  # offers train_data_parallel(case, world_size, **options)
    # and optionally data_parallel_missing(world_size, **options) -> why not | None, and
    # data_parallel_environment(world_size) -> {variable: value} for its worker process
    "expected_failures": (list, ()),  # see ExpectedFailure
    # Cases it does not run, beyond the lists above: {"case", "reason", and optionally "dtype",
    # "loss", "activation"} as an expected failure matches them; listed as skipped, with why.
    "unsupported": (list, ()),
    # Another interpreter for its worker (its own venv): a path, relative to the directory
    # that holds the implementation's package unless absolute; BACKPROP_PARITY_PYTHON_<NAME>
    # overrides it. Its worker then speaks JSON (comparisons.execution.workers.JSONConnection).
    "python": (str, ""),
    # An implementation in any language: the command that reads a case file and writes a
    # results block, "{case}" and "{results}" standing for the two files (comparisons/execution/command.py);
    # it runs in the package's directory, and the package needs no train(). `requires` then
    # names programs on PATH and files relative to the package's directory.
    "command": (list, ()),
    # and optionally the command that prints its environment as one JSON object (versions,
    # for the manifest and docs/FRAMEWORKS.md)
    "environment_command": (list, ()),
    # The longest run it is given (0: no limit), for a framework whose eager mode is slow;
    # longer cases are listed as skipped with the declared reason.
    "max_updates": (int, 0),
    "max_updates_reason": (str, ""),
}
_FEATURE_GLOBS = {"training": unknown_training_feature,
                  "reduced_precision": unknown_precision_feature}
_ALLOWED = {"dtypes": DTYPES, "schedules": SCHEDULES, "activations": ACTIVATIONS,
            "losses": LOSSES, "reductions": REDUCTIONS, "devices": DEVICES,
            "precisions": PRECISIONS}
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class ProtocolError(ValueError):
    """An implementation cannot be found or declares itself wrongly; one line for the user."""


@dataclasses.dataclass(frozen=True)
class ExpectedFailure:
    """A declared expected failure: on the cases it matches, the tensors it names may fail
    (every other tensor is still judged), for the reason given.

    case: a glob over case names; dtype, loss, activation (one the case uses), training
    (globs, each matching one of the case's training_features: ["optimizer:momentum",
    "decay:decoupled"] is momentum with decoupled decay): optional filters, all of which hold;
    tensors: globs over tensor names (default: all); strict: when it passes anyway, report
    XPASS (True), or take it as a limitation that shows only when the data reaches it and
    report a plain pass (False)."""

    case: str
    reason: str
    dtype: str | None = None
    loss: str | None = None
    activation: str | None = None
    tensors: tuple = ("*",)
    strict: bool = True
    training: tuple = ()

    def matches(self, case) -> bool:
        return (fnmatch.fnmatchcase(case.name, self.case) and self.dtype in (None, case.dtype)
                and self.loss in (None, case.loss)
                and self.activation in (None, *case.activations)
                and all(any(fnmatch.fnmatchcase(f, g) for f in training_features(case))
                        for g in self.training))

    def covers(self, tensor: str) -> bool:
        return any(fnmatch.fnmatchcase(tensor, g) for g in self.tensors)


def merged(found: list) -> ExpectedFailure | None:
    """Several expected failures that apply at once (to one case, or to the two sides of a
    pair) as one: every tensor any of them names, every reason, strict only if all are."""
    found = [x for x in found if x is not None]
    if len(found) <= 1:
        return found[0] if found else None
    return dataclasses.replace(
        found[0], reason="; ".join(dict.fromkeys(x.reason for x in found)),
        tensors=tuple(dict.fromkeys(t for x in found for t in x.tensors)),
        strict=all(x.strict for x in found))


@dataclasses.dataclass(frozen=True)
class Implementation:
    """A validated declaration; `module` is the import path that provides `train`."""

    name: str
    module: str
    description: str
    requires: tuple[str, ...]
    install: str
    dtypes: tuple[str, ...]
    schedules: tuple[str, ...]
    activations: tuple[str, ...]
    losses: tuple[str, ...]
    reductions: tuple[str, ...]
    training: tuple[str, ...]
    reduced_precision: tuple[str, ...]
    devices: tuple[str, ...]
    precisions: tuple[str, ...]
    data_parallel: bool
    expected_failures: tuple[ExpectedFailure, ...]
    unsupported_cases: tuple[ExpectedFailure, ...] = ()
    python: str = ""
    command: tuple[str, ...] = ()
    environment_command: tuple[str, ...] = ()
    max_updates: int = 0
    max_updates_reason: str = ""
    entry: str = "train"        # the module's function a worker calls
    world_size: int = 1         # > 1: the data-parallel variant (`data_parallel_variant`)

    @property
    def elsewhere(self) -> str:
        """Why it cannot be imported and run in this process ('' when it can): another
        interpreter, or a command."""
        if self.command:
            return f"{self.name} is a command ({' '.join(self.command)})"
        if self.python:
            return f"{self.name} runs in an environment of its own ({self.python})"
        return ""

    def directory(self) -> Path:
        """The directory of its package."""
        spec = importlib.util.find_spec(self.module.split(".")[0])
        return Path(spec.origin).resolve().parent if spec and spec.origin else Path()

    def worker(self) -> dict:
        """What acquire() needs to start its worker: module, entry, python, env."""
        env = self.worker_environment()
        if self.command:
            return {"module": "comparisons.execution.command", "entry": "train", "python": None,
                    "env": env | {ENV_COMMAND: json.dumps(list(self.command)),
                                  ENV_ENVIRONMENT: json.dumps(list(self.environment_command)),
                                  ENV_DIRECTORY: str(self.directory())}}
        return {"module": self.module, "entry": self.entry, "python": self.interpreter(),
                "env": env}

    def interpreter(self) -> str | None:
        """The interpreter its worker runs under, or None for this one."""
        env = os.environ.get("BACKPROP_PARITY_PYTHON_" + re.sub(r"\W", "_", self.name.upper()))
        if env:
            return env
        if not self.python:
            return None
        path = Path(self.python)
        return str(path if path.is_absolute() else self.directory().parent / path)

    def missing(self) -> str | None:
        """Why it cannot run here (a required module is not installed; for another
        interpreter, the interpreter, or this package or a module in it), or None."""
        python = self.interpreter()
        if python:
            return _missing_in(python, [*self.requires, "comparisons", self.module],
                               self.install)
        hint = f"; install it with: {self.install}" if self.install else ""
        if self.command:
            for r in (self.command[0], *self.requires):
                found = ((self.directory() / r).exists() if "/" in r
                         else shutil.which(r) is not None)
                if not found:
                    return f"{r} is not installed{hint}"
            return None
        for mod in self.requires:
            try:
                found = importlib.util.find_spec(mod) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                hint = f"; install it with: {self.install}" if self.install else ""
                return f"{mod} is not installed{hint}"
        return None

    def unsupported(self, case, device: str = "cpu", precision: str = "default") -> str | None:
        """Why this implementation does not run `case` by its own declaration, or None."""
        checks = [("dtype", [case.dtype], self.dtypes), ("schedule", [case.schedule], self.schedules),
                  ("activation", case.activations, self.activations),
                  ("loss", [case.loss], self.losses), ("reduction", [case.reduction], self.reductions),
                  ("device", [device], self.devices),
                  ("precision", [precision], self.precisions)]
        for what, values, allowed in checks:
            for v in values:
                if v not in allowed:
                    return f"{what} {v} is not supported"
        for feature in training_features(case):
            if not any(fnmatch.fnmatchcase(feature, p) for p in self.training):
                return f"training {feature} is not supported"
        for feature in precision_features(case):
            if not any(fnmatch.fnmatchcase(feature, p) for p in self.reduced_precision):
                name = case.precision.get("name")
                return (f"reduced precision {feature} is not supported"
                        + (f" (policy {name})" if name else ""))
        for x in self.unsupported_cases:
            if x.matches(case):
                return x.reason
        if self.max_updates and case.updates > self.max_updates:
            return (f"{case.updates} updates, more than the {self.max_updates} it runs"
                    + (f": {self.max_updates_reason}" if self.max_updates_reason else ""))
        return None

    def expected_failure(self, case) -> ExpectedFailure | None:
        """The declared expected failure of `case`; several that match are one, covering every
        tensor any of them names, strict only if all are."""
        return merged([x for x in self.expected_failures if x.matches(case)])

    def load(self):
        """The module (imported here: call this in the process that trains)."""
        return importlib.import_module(self.module)

    def data_parallel_variant(self, world_size: int) -> "Implementation":
        """This implementation on `world_size` ranks, judged as an implementation of its own
        (`torch-dp3`): its worker calls train_data_parallel(case, world_size, **options)."""
        # its ranks run the plain program: a reduced-precision policy is not theirs to run
        return dataclasses.replace(self, name=f"{self.name}-dp{world_size}",
                                   entry="train_data_parallel", world_size=world_size,
                                   reduced_precision=())

    def data_parallel_missing(self, world_size: int, **options) -> str | None:
        """Why this machine cannot run `world_size` ranks of it (the module's optional
        data_parallel_missing, imported here: checked before any work), or None."""
        check = getattr(importlib.import_module(self.module), "data_parallel_missing", None)
        return check(world_size, **options) if callable(check) else None

    def worker_environment(self) -> dict:
        """Environment variables its worker needs (the module's optional
        data_parallel_environment(world_size) for a data-parallel variant)."""
        if self.world_size == 1:
            return {}
        env = getattr(importlib.import_module(self.module), "data_parallel_environment", None)
        return dict(env(self.world_size)) if callable(env) else {}


def _fail(where: str, msg: str):
    raise ProtocolError(f"{where}: {msg}")


def declaration(module_name: str, expected_name: str | None = None) -> Implementation:
    """Import `module_name` and validate its IMPLEMENTATION declaration."""
    try:
        mod = importlib.import_module(module_name)
    except ImportError as e:
        _fail(module_name, f"cannot import it ({e})")
    where = f"{module_name}.IMPLEMENTATION"
    d = getattr(mod, "IMPLEMENTATION", None)
    if not isinstance(d, dict):
        _fail(module_name, "has no IMPLEMENTATION dict (see comparisons/protocol/registry.py)")
    if not callable(getattr(mod, "train", None)) and not (isinstance(d, dict)
                                                          and d.get("command")):
        _fail(module_name, "has no train(case, **options) function (nor a \"command\")")
    unknown = set(d) - set(FIELDS)
    if unknown:
        _fail(where, f"unknown field {sorted(unknown)[0]!r}; expected {', '.join(FIELDS)}")
    values = {}
    for key, (typ, default) in FIELDS.items():
        v = d.get(key, default)
        if v is None:
            _fail(where, f"missing required field {key!r}")
        if typ is list:
            if isinstance(v, str) or not isinstance(v, (list, tuple)):
                _fail(where, f"{key}: expected a list, got {v!r}")
            v = tuple(v)
        elif not isinstance(v, typ):
            _fail(where, f"{key}: expected {typ.__name__}, got {v!r}")
        unknown = _FEATURE_GLOBS.get(key)  # globs over a case's features: none may miss all
        if unknown is not None:
            bad = [g for g in v if not isinstance(g, str) or unknown(g)]
            if bad:
                why = unknown(bad[0]) if isinstance(bad[0], str) else "expected a string"
                _fail(where, f"{key}: {bad[0]!r}: {why}")
        if key in _ALLOWED:
            bad = [x for x in v if x not in _ALLOWED[key]]
            if bad:
                _fail(where, f"{key}: unknown value {bad[0]!r}; expected some of "
                             f"{', '.join(_ALLOWED[key])}")
        values[key] = v
    if not _NAME.match(values["name"]):
        _fail(where, f"name: {values['name']!r} is not a lower-case name of letters, digits, "
                     "'-' and '_'")
    if expected_name is not None and values["name"] != expected_name:
        _fail(where, f"name {values['name']!r} differs from its entry point {expected_name!r}")
    xf = []
    for i, x in enumerate(values["expected_failures"]):
        xf.append(_expected_failure(f"{where}.expected_failures[{i}]", x))
    values["expected_failures"] = tuple(xf)
    values["unsupported_cases"] = tuple(_expected_failure(f"{where}.unsupported[{i}]", x)
                                        for i, x in enumerate(values.pop("unsupported")))
    return Implementation(module=module_name, **values)


def _missing_in(python: str, modules: list, install: str) -> str | None:
    """Why `python` cannot run a worker of `modules` (each found, not imported), or None."""
    hint = f"; set it up with: {install}" if install else ""
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        return f"its interpreter {python} does not exist{hint}"
    probe = ("import importlib.util as u, sys\n"
             "print(' '.join(m for m in sys.argv[1:] if u.find_spec(m.split('.')[0]) is None))")
    try:
        out = subprocess.run([python, "-c", probe, *modules], capture_output=True, text=True,
                             timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"its interpreter {python} does not run ({e}){hint}"
    if out.returncode != 0:
        return f"its interpreter {python} fails ({out.stderr.strip()[-200:]}){hint}"
    lacking = out.stdout.split()
    if lacking:
        what = ["backprop-parity" if m == "comparisons" else m for m in lacking]
        return f"its interpreter {python} lacks {', '.join(what)}{hint}"
    return None


_XF_FIELDS = {"case": str, "reason": str, "dtype": str, "loss": str, "activation": str,
              "training": list, "tensors": list, "strict": bool}


def _expected_failure(where: str, x) -> ExpectedFailure:
    if not isinstance(x, dict):
        _fail(where, f"expected an object with 'case' and 'reason', got {x!r}")
    for k, v in x.items():
        if k not in _XF_FIELDS:
            _fail(where, f"unknown field {k!r}; expected {', '.join(_XF_FIELDS)}")
        if not isinstance(v, _XF_FIELDS[k]):
            _fail(where, f"{k}: expected {_XF_FIELDS[k].__name__}, got {v!r}")
    for k in ("case", "reason"):
        if not x.get(k):
            _fail(where, f"missing required field {k!r}")
    if (x.get("dtype") not in (None, *DTYPES) or x.get("loss") not in (None, *LOSSES)
            or x.get("activation") not in (None, *ACTIVATIONS)):
        _fail(where, f"unknown dtype, loss or activation in {x!r}")
    if not all(isinstance(g, str) and g for g in x.get("training", ())):
        _fail(where, f"training: expected globs over training features (\"lr_schedule:step\"), "
                     f"got {x['training']!r}")
    for g in x.get("training", ()):
        if unknown_training_feature(g):
            _fail(where, f"training: {g!r}: {unknown_training_feature(g)}")
    return ExpectedFailure(x["case"], x["reason"], x.get("dtype"), x.get("loss"),
                           x.get("activation"), tuple(x.get("tensors", ("*",))),
                           x.get("strict", True), tuple(x.get("training", ())))


DISTRIBUTION = "backprop-parity"


def registered(own: bool = False) -> dict[str, str]:
    """{name: module} of every implementation registered in GROUP, the oracle first; with
    own=True, only those this distribution registers (not plugins installed beside it)."""
    eps = {}
    for ep in importlib.metadata.entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        if own and (dist is None or dist.metadata["Name"] != DISTRIBUTION):
            continue
        eps[ep.name] = ep.value
    return dict(sorted(eps.items(), key=lambda kv: (kv[0] != ORACLE, kv[0])))


def resolve(name: str) -> Implementation:
    """A registered name (or alias), or a module path with a dot."""
    name = ALIASES.get(name, name)
    reg = registered()
    if name in reg:
        return declaration(reg[name], name)
    if "." in name or importlib.util.find_spec(name) is not None:
        return declaration(name)
    known = ", ".join(reg) or "none (is the package installed? pip install -e .)"
    close = difflib.get_close_matches(name, list(reg) + list(ALIASES), n=1)
    _fail("--impl", f"unknown implementation {name!r}"
                    + (f" (did you mean {close[0]!r}?)" if close else "")
                    + f"; registered: {known}; or give a module path such as mypkg.bp_impl")


def all_registered() -> list[Implementation]:
    return [declaration(mod, name) for name, mod in registered().items()]
