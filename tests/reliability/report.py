"""The suite's figures: each test adds one row per (server, attack) — the normal client's figures,
the attack's own, pass or fail with the reasons — and the session writes them, once, to
results/reliability-<UTC timestamp>/reliability.{md,json} and points results/reliability-latest at
that folder."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
from dataclasses import asdict, dataclass, field

SERVERS = ("python", "python[rsgi]", "go")


@dataclass
class Row:
    server: str
    attack: str
    normal: dict | None  # normal.Summary.as_dict(), or None when no normal client ran
    figures: dict  # the attack's own figures (JSON values)
    summary: str  # the attack's figures in one line, for the table
    passed: bool
    reasons: list[str] = field(default_factory=list)  # why it failed (empty when it passed)
    notes: list[str] = field(default_factory=list)  # what is worth knowing even when it passed
    known: str | None = None  # failed, and declared a known failure (conftest.KNOWN_FAILURES): why


class Verdict:
    """Collects the rules one attack checks: `check(condition, reason)`; failed reasons are kept."""

    def __init__(self):
        self.reasons: list[str] = []
        self.notes: list[str] = []

    def check(self, condition: bool, reason: str) -> bool:
        if not condition:
            self.reasons.append(reason)
        return bool(condition)

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def passed(self) -> bool:
        return not self.reasons


def _attack_number(row: Row) -> int:
    number = row.attack.split(" ", 1)[0]
    return int(number) if number.isdigit() else 99


def _ms(value) -> str:
    return "—" if value is None else "%.1f" % value


class Report:
    def __init__(self, root: str):
        self.root = root
        self.rows: list[Row] = []
        self.logs: dict[str, str] = {}  # name in the results folder → server log path
        self.config: dict = {}

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def keep_log(self, name: str, path: str) -> None:
        self.logs[name] = path

    def write(self) -> str | None:
        if not self.rows:
            return None
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        results = os.path.join(self.root, "results")
        out = os.path.join(results, "reliability-" + stamp)
        os.makedirs(os.path.join(out, "logs"), exist_ok=True)
        for name, path in self.logs.items():
            if os.path.exists(path):
                shutil.copyfile(path, os.path.join(out, "logs", name))
        doc = {
            "format": "servebench-reliability/1",
            "created": stamp,
            "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
            "config": self.config,
            "rows": [asdict(r) for r in self.rows],
        }
        with open(os.path.join(out, "reliability.json"), "w") as fh:
            json.dump(doc, fh, indent=1)
        with open(os.path.join(out, "reliability.md"), "w") as fh:
            fh.write(self.markdown(stamp))
        latest = os.path.join(results, "reliability-latest")
        tmp = latest + ".tmp"
        if os.path.lexists(tmp):
            os.remove(tmp)
        os.symlink(os.path.basename(out), tmp)
        os.replace(tmp, latest)
        return out

    def markdown(self, stamp: str) -> str:
        lines = ["# servebench reliability suite — %s" % stamp, ""]
        for key, value in self.config.items():
            lines.append("- %s: %s" % (key, value))
        lines += [
            "",
            "Normal client: ~40 iris-logreg batch-1 requests/s (HTTP JSON, or gRPC for gRPC attacks), 5 s "
            "timeout; it passes with ≥ 99 % answered correctly and p99 ≤ 50 ms (latency from the scheduled "
            "send time). Each attack adds its own rule (see the README of tests/reliability).",
            "",
        ]
        for server in [s for s in SERVERS if any(r.server == s for r in self.rows)] + sorted(
            {r.server for r in self.rows} - set(SERVERS)
        ):
            rows = sorted((r for r in self.rows if r.server == server), key=_attack_number)
            passed = sum(r.passed for r in rows)
            known = sum(1 for r in rows if not r.passed and r.known)
            lines += [
                "## %s — %d/%d passed%s" % (server, passed, len(rows), " (%d known failures)" % known if known else ""),
                "",
            ]
            lines += [
                "| attack | normal ok % | p50 ms | p99 ms | attack figures | result |",
                "|---|---|---|---|---|---|",
            ]
            for r in rows:
                n = r.normal or {}
                ok = "—" if not n else "%.1f (%d/%d)" % (n["answered_pct"], n["ok"], n["sent"])
                result = "PASS" if r.passed else "**FAIL**%s: " % (" (known)" if r.known else "") + "; ".join(r.reasons)
                cells = [r.attack, ok, _ms(n.get("p50_ms")), _ms(n.get("p99_ms")), r.summary, result]
                lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
            notes = [(r.attack, note) for r in rows for note in r.notes]
            notes += [(r.attack, "known failure: " + r.known) for r in rows if not r.passed and r.known]
            if notes:
                lines += [""] + ["- *%s*: %s" % (attack, note) for attack, note in notes]
            lines.append("")
        return "\n".join(lines)
