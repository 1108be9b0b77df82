"""The seeds' formulas, once, in the order one update computes them: what `walkthrough` shows,
what `diagnose` checks one by one, and docs/SPEC.md's table (its `formulas` figure).

Each formula is computed by one function of reference/ (the same name in every implementation
package). A formula's text names the tensor it produces: `text(kind, case, i)` writes it for
layer i of a case (its activations, loss and schedule), `markdown()` for any layer.
"""

from __future__ import annotations

import dataclasses

FORWARD, BACKWARD, UPDATE = "forward", "backward", "update"


@dataclasses.dataclass(frozen=True)
class Formula:
    """One formula: `kind` names its output ("Z" for Z[i], "dZL" for the output delta, "P+"
    for an updated parameter P[i]+); `template` is its text with the output's layer i, i0 =
    i - 1, i1 = i + 1, L, the activation g of layer i, the loss, the reduction, the W that
    carries the delta down (W[i1] or, in the sequential schedule, W[i1]+), the parameter p."""

    kind: str
    phase: str
    template: str
    shapes: str
    function: str   # module.function in every implementation package ({schedule}: the case's)


FORMULAS = (
    Formula("Z", FORWARD, "Z[{i}] = W[{i}] . A[{i0}] + b[{i}]",
            "(n[l], n[l-1]) . (n[l-1], m) + (n[l], 1) -> (n[l], m)", "network.linear_forward"),
    Formula("A", FORWARD, "A[{i}] = {g}(Z[{i}])", "(n[l], m) -> (n[l], m)",
            "network.activation_forward"),
    Formula("E", FORWARD, "E = {loss}(A[{L}], Y), {reduction} over the samples",
            "(n[L], m), (n[L], m) -> a number", "network.compute_loss"),
    Formula("dZL fused", BACKWARD, "dZ[{L}] = dE/dZ[{L}] = (A[L] - Y) * factor",
            "(n[L], m)", "network.output_delta"),
    Formula("dZL", BACKWARD, "dZ[{L}] = dE/dZ[{L}] = loss'(A[{L}]) * g'(Z[{L}])",
            "(n[L], m)", "network.output_delta"),
    Formula("dW", BACKWARD, "dW[{i}] = dZ[{i}] . A[{i0}]^T",
            "(n[l], m) . (m, n[l-1]) -> (n[l], n[l-1])", "network.linear_backward_weights"),
    Formula("db", BACKWARD, "db[{i}] = sum over columns of dZ[{i}]", "(n[l], m) -> (n[l], 1)",
            "network.linear_backward_weights"),
    Formula("dA", BACKWARD, "dA[{i}] = {W}^T . dZ[{i1}]",
            "(n[l], n[l+1]) . (n[l+1], m) -> (n[l], m)", "network.linear_backward_input"),
    Formula("dZ", BACKWARD, "dZ[{i}] = dA[{i}] * {g}'(Z[{i}])", "(n[l], m) -> (n[l], m)",
            "network.activation_backward"),
    Formula("P+", UPDATE, "{p}[{i}]+ = {p}[{i}] - lr d{p}[{i}]", "the parameter's shape",
            "training.{schedule}_step"),
)
BY_KIND = {f.kind: f for f in FORMULAS}
FUSED = ("bce", "cce")  # losses whose output delta is fused with the output activation's


def kind_of(name: str, case) -> str:
    """The formula kind of a tensor name: "Z2" -> "Z", "dZ2" -> "dZL" (fused or not) for the
    output layer, "W1+" -> "P+"."""
    if name.endswith("+"):
        return "P+"
    kind = name.rstrip("0123456789")
    if kind == "dZ" and int(name[2:]) == case.L:
        return "dZL fused" if case.loss in FUSED else "dZL"
    return kind


def text(kind: str, case, i: int | None = None, p: str = "W") -> tuple[str, str]:
    """(the formula, `module.function` that computes it) of `kind` for layer i of `case` (the
    layer of the tensor it produces; the output layer L where it has none); `p`, the
    parameter an update formula updates."""
    f = BY_KIND[kind]
    L = case.L
    i = L if i is None else i
    carry = f"W[{i + 1}]" + ("+" if case.schedule == "sequential" else "")
    act = case.activations[i - 1] if 1 <= i <= L else ""
    return (f.template.format(i=i, i0=i - 1, i1=i + 1, L=L, g=act, loss=case.loss,
                              reduction=case.reduction, W=carry, p=p),
            f.function.format(schedule=case.schedule))


def named(name: str, case) -> tuple[str, str]:
    """`text` of a tensor name such as "Z2", "E", "dW1", "W2+" (the walkthrough's keys)."""
    kind = kind_of(name, case)
    digits = name.strip("+").lstrip("dZAWbE")
    i = int(digits) if digits else None
    return text(kind, case, i, p=name[0] if kind == "P+" else "W")


def markdown() -> str:
    """The table of docs/SPEC.md: every formula for any layer l, with its shapes and the
    function that computes it."""
    rows = ["| formula | shapes | function |", "|---|---|---|"]
    for f in FORMULAS:
        generic = f.template.format(i="l", i0="l-1", i1="l+1", L="L", g="g[l]", loss="loss",
                                    reduction="sum or mean", W="W[l+1]", p="P")
        if f.kind == "dA":
            generic += " (the updated W[l+1]+ in the sequential schedule)"
        if f.kind == "dZL fused":
            generic += " (sigmoid + bce, softmax + cce)"
        if f.kind == "P+":
            generic += " (P: W or b, for the trainable parameters)"
        rows.append(f"| `{generic}` | {f.shapes} | "
                    f"`{f.function.format(schedule='simultaneous')}`"
                    + (", `training.sequential_step`" if f.kind == "P+" else "") + " |")
    return "\n".join(rows)
