"""report.md: the assembler. Each section is a module of bench.report.sections; SECTIONS is their
order, written once. A section reads the Results only and computes nothing that is not in
bench.analysis, so every figure traces back to results.json and from there to raw/.
"""

from __future__ import annotations

import os

from bench.analysis import goals
from bench.report.sections import (
    answer,
    capacity,
    figures,
    floors,
    header,
    ladder,
    main_table,
    method,
    network,
    overhead,
    parity,
    peers,
    phases,
    ratios,
    seed,
    variants,
)
from bench.report.sections import goals as goals_section
from bench.results import Results

SECTIONS = (
    header,
    answer,
    parity,
    goals_section,
    main_table,
    ratios,
    ladder,
    phases,
    floors,
    capacity,
    peers,
    variants,
    overhead,
    seed,
    network,
    figures,
    method,
)


def build(results: Results) -> str:
    conc = goals.reference_concurrency(results.scenarios, results.settings["reference_concurrency"])
    return "\n".join(line for section in SECTIONS for line in section.render(results, conc))


def write(run_dir: str, results: Results) -> str:
    path = os.path.join(run_dir, "report.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(build(results))
    return path
