"""Whether every way into every server answered alike (the gate before anything is measured)."""

from __future__ import annotations

from bench.report.format import section
from bench.results import Results


def render(results: Results, conc: int | None) -> list[str]:
    gate = results.parity
    return section(
        "Parity gate",
        [
            (
                f"Passed: {gate.answers_checked} answers from {', '.join(gate.endpoints)} on "
                f"{', '.join(gate.models)} agree with each other and with {gate.reference} (max |diff| "
                f"{gate.max_abs_diff:.3g}, tolerance {gate.tolerance:g})."
            )
            if gate.passed
            else ("Did not run (seed only)." if not gate.ran else "FAILED — see results.json.")
        ],
    )
