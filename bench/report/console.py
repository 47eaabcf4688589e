"""Terminal output (rich): the plan and estimate up front, progress while running, a summary table at the end.

The runner calls a Console object (info / warn / start_progress / advance / finish_progress) and never
prints itself.
"""

from __future__ import annotations

from rich.console import Console as RichConsole
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from bench.report import format as report
from bench.report.sections.header import quality
from bench.results import Results, Run


class Console:
    def __init__(self) -> None:
        self.out = RichConsole(stderr=True, highlight=False, soft_wrap=True)
        if not self.out.is_terminal:  # a log file or CI: do not squeeze the summary table into 80 columns
            self.out.width = 160
        self._progress: Progress | None = None
        self._task = None

    def info(self, text: str) -> None:
        # escaped: a server's name such as python[rsgi] is not rich markup
        (self._progress.console if self._progress else self.out).print(f"[dim]bench:[/dim] {escape(text)}")

    def warn(self, text: str) -> None:
        (self._progress.console if self._progress else self.out).print(
            f"[yellow]bench: warning:[/yellow] {escape(text)}"
        )

    def error(self, text: str) -> None:
        self.finish_progress()
        self.out.print(f"[bold red]bench: error:[/bold red] {escape(text)}", markup=True)

    def estimate(self, est: dict) -> None:
        parts = ", ".join(f"{k[:-2]} {v:.0f}s" for k, v in est.items() if k.endswith("_s") and k != "total_s")
        self.info(f"plan: {est['runs']} timed runs; estimated {est['total_s'] / 60:.1f} min ({parts})")

    def start_progress(self, total: int) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.out,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("measuring", total=total)

    def advance(self, run: Run) -> None:
        if self._progress is None:
            return
        where = f"{run.server}/{run.protocol}"
        what = (
            f"seed {run.mode}"
            if run.mode
            else f"{run.model} b{run.batch}" + ("" if run.kind == "serve" else f" [{run.kind}]")
        )
        flag = " [red]client-bound[/red]" if run.client_bound else ""
        if run.no_answers:
            flag += " [bold red]no answer at all (transport errors or timeouts)[/bold red]"
        if run.noisy:
            flag += f" [yellow]noisy: {run.foreign_cpu_share:.0%} of server CPU used by other processes[/yellow]"
        self._progress.console.print(
            f"  {escape(where):<16} {what:<24} c{run.concurrency:<4} r{run.repeat}  "
            f"{report.num(run.rps, 0):>8} req/s  p99 {report.num(run.latency_ms.p99, 2):>7} ms  "
            f"cpu {report.num(run.server_cpu_us_per_req, 1):>7} µs/req  errors {run.errors}{flag}"
        )
        self._progress.advance(self._task)

    def capacity_point(self, label: str, point) -> None:
        """One point of a capacity search, as it is measured."""
        verdict = "[green]pass[/green]" if point.passed else f"[red]{', '.join(point.flags) or 'fail'}[/red]"
        confirm = " (confirming)" if "confirm" in point.flags else ""
        self.out.print(
            f"  capacity {escape(label):<28} {report.num(point.offered_rps, 0):>7} req/s offered  "
            f"{report.num(point.achieved_rps, 0):>7} achieved  p99 {report.num(point.latency_ms.p99, 2):>7} ms  "
            f"server {report.num(100 * (point.server_cpu_util or 0), 0):>3}% of quota  "
            f"generator {report.num(100 * (point.client_cpu_util or 0), 0):>3}%  {verdict}{confirm}"
        )

    def finish_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def summary(self, results: Results, run_dir: str) -> None:
        table = Table(title="servebench summary (median of repeats; CB = client-bound)", show_lines=False)
        for col in (
            "server",
            "protocol",
            "model",
            "batch",
            "conc",
            "req/s",
            "p50 ms",
            "p99 ms",
            "CPU µs/req",
            "RSS MB",
            "flags",
        ):
            table.add_column(col, justify="right" if col not in ("server", "protocol", "model", "flags") else "left")
        for row in results.scenarios:
            table.add_row(
                escape(row.server),
                row.protocol,
                row.model or f"({row.mode})",
                str(row.batch or "-"),
                str(row.concurrency),
                report.num(row.rps.median, 0),
                report.num(row.p50_ms.median, 2),
                report.num(row.p99_ms.median, 2),
                report.num(row.server_cpu_us_per_req.median, 1),
                report.num(row.server_rss_mb.median, 0),
                report.flags(row),
            )
        self.out.print(table)
        warning = quality(results.runs)
        if warning:
            self.warn(warning)
        self.out.print(f"results: {run_dir}/results.json, report: {run_dir}/report.md")
