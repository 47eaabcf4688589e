"""python -m bench.report DIR: write report.md and the plots again from DIR/results.json."""

import json
import os
import sys

from bench.report import markdown, plots
from bench.results import Results


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    run_dir = args[0] if args else "results/latest"
    with open(os.path.join(run_dir, "results.json"), encoding="utf-8") as fh:
        results = Results.from_json(json.load(fh))
    print(markdown.write(run_dir, results))
    for path in plots.write(run_dir, results):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
