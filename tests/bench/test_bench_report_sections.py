"""report.md is assembled from one module per section, in the one order markdown.SECTIONS gives."""

import pkgutil

from bench.analysis import goals
from bench.report import markdown, sections
from tests.bench.test_bench_report import explained, results  # noqa: F401 (fixtures)


def test_every_section_module_is_in_the_order_once():
    modules = {m.name for m in pkgutil.iter_modules(sections.__path__)}
    listed = [s.__name__.rsplit(".", 1)[1] for s in markdown.SECTIONS]
    assert sorted(listed) == sorted(modules) and len(set(listed)) == len(listed)


def test_the_report_is_the_sections_in_that_order(explained):  # noqa: F811
    conc = goals.reference_concurrency(explained.scenarios, explained.settings["reference_concurrency"])
    parts = [s.render(explained, conc) for s in markdown.SECTIONS]
    assert markdown.build(explained) == "\n".join(line for part in parts for line in part)
    headings = [part[0] for part in parts]
    assert headings[0].startswith("# servebench report") and all(h.startswith("## ") for h in headings[1:])
    text = markdown.build(explained)
    positions = [text.index(h + "\n") for h in headings]
    assert positions == sorted(positions)
