"""The reference under another name, drifting by 1e-9 in its losses, which it declares as an
expected failure: for the tests of expected failures in conform and in pytest."""

import dataclasses

IMPLEMENTATION = {
    "name": "declared",
    "expected_failures": [{"case": "reduction-*", "tensors": ["losses*"],
                           "reason": "its losses drift by 1e-9 on purpose"}],
}


def train(case, **options):
    import reference
    r = reference.train(case)
    if case.name.startswith("reduction-"):
        r = dataclasses.replace(r, losses=r.losses * (1 + 1e-9))
    return r
