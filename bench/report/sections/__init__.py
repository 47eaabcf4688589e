"""The sections of report.md, one module each: `render(results, conc)` gives a section's lines
(`conc`: the reference concurrency the report reads its comparisons at). Their order is
bench.report.markdown.SECTIONS."""
