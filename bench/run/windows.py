"""The windows of a run: every figure the report divides is measured in one window, interleaved.

A window is one (model, batch, concurrency): the same request body, the same load. Its members are
every server × protocol of the matrix that has that cell, the variants of that cell, the floors
(each member's null server, floors.of, on the floor protocols and concurrencies), the seed's toys a
goal compares with (answering their own GET /predict), and the in-process timings a goal compares
with. Each repeat measures every member in turn, the order reversed on every other repeat (A B C,
C B A, A B C …: a pair's two figures are never far apart, and a steady drift cancels), so that a
ratio of two members is a ratio of figures taken minutes apart at most, repeat by repeat.

Pure: `windows(settings, stages)` is the plan; bench.run.matrix measures it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.settings import Settings

KINDS = ("serve", "variant", "floor", "seed", "inproc")
TOY_PROTOCOL = "http"  # a seed toy answers its own GET /predict (the seed post's request)
WORK_OF = {"http-json": "json", "http-protobuf": "protobuf", "grpc": "protobuf", "grpc-stream": "protobuf"}


@dataclass(frozen=True)
class Member:
    """One thing a window measures: a server (or variant, null server, toy) on one protocol, or an
    in-process timing (kind "inproc": server is the language, protocol the work: json, protobuf)."""

    kind: str
    server: str
    protocol: str


@dataclass(frozen=True)
class Window:
    model: str
    batch: int
    concurrency: int
    members: tuple[Member, ...]

    def order(self, repeat: int) -> tuple[Member, ...]:
        """The members in the order of one repeat (1-based): as listed, reversed on even repeats."""
        return self.members if repeat % 2 else tuple(reversed(self.members))

    def servers(self) -> list[str]:
        """The servers this window measures (not the in-process timings), in order."""
        return list(dict.fromkeys(m.server for m in self.members if m.kind != "inproc"))


def transport(protocol: str) -> str:
    """The listener a protocol uses (bench.run.servers.transport: v2-http is http)."""
    return protocol.removeprefix("v2-").split("-")[0]


def floor_of(s: Settings, server: str, protocol: str) -> str | None:
    """The null server that is `server`'s floor on `protocol`, or None."""
    return s.floors.of.get(server, {}).get(transport(protocol))


def windows(s: Settings, stages: set[str], measured=None) -> list[Window]:
    """Every window of the stages (matrix, variants), in the scenario file's order; `measured(server,
    protocol)`, when given, says which of the matrix's server × protocol pairs are measured at all
    (bench.plan.measured: a peer speaks V2 only, a target the protocols it was given for)."""
    cells: dict[tuple[str, int, int], list[Member]] = {}

    def add(model, batch, conc, member):
        got = cells.setdefault((model, batch, conc), [])
        same = [m for m in got if (m.server, m.protocol) == (member.server, member.protocol)]
        if not same:
            got.append(member)

    if "matrix" in stages:
        for model in s.models:
            for batch in s.batch:
                for protocol, concurrencies in s.matrix.items():
                    for conc in concurrencies:
                        for server in s.servers:
                            if measured is None or measured(server, protocol):
                                add(model, batch, conc, Member("serve", server, protocol))
    if "variants" in stages:
        v = s.variants
        for model in v.models:
            for batch in v.batch:
                for protocol, concurrencies in v.matrix.items():
                    for conc in concurrencies:
                        for server in v.servers:
                            if protocol in v.protocols_of.get(server, v.matrix):
                                add(model, batch, conc, Member("variant", server, protocol))
    for (_, _, conc), members in cells.items():
        members[:] = _with_floors(s, members, conc)
    for goal in s.goals:
        where = goal.subject
        key = (where.get("model"), where.get("batch"), where.get("concurrency", s.reference_concurrency))
        if key not in cells or not any(m.server == where.get("server") for m in cells[key]):
            continue
        if "seed" in goal.baseline:
            add(*key, Member("seed", goal.baseline["seed"], TOY_PROTOCOL))
        if "inproc" in goal.baseline:
            add(*key, Member("inproc", goal.baseline["inproc"], WORK_OF[where.get("protocol", "grpc")]))
    return [Window(m, b, c, tuple(_grouped(members))) for (m, b, c), members in cells.items()]


def _with_floors(s: Settings, members: list[Member], conc: int) -> list[Member]:
    """The members, each followed by its floor where one is measured (once per null and protocol)."""
    if not s.floors.enabled or conc not in s.floors.concurrency:
        return members
    out = list(members)
    for m in members:
        null = floor_of(s, m.server, m.protocol) if m.protocol in s.floors.protocols else None
        if null is not None and not any((o.server, o.protocol) == (null, m.protocol) for o in out):
            out.append(Member("floor", null, m.protocol))
    return out


def _grouped(members: list[Member]) -> list[Member]:
    """Grouped by transport then protocol (a ratio's two sides sit side by side), the seed's GET
    with HTTP, the in-process timings last; otherwise in the order added."""
    rank = {"http-json": 0, TOY_PROTOCOL: 1, "http-protobuf": 2, "grpc": 3, "grpc-stream": 4}

    def key(m: Member):
        if m.kind == "inproc":
            return (9, 0)
        return (rank.get(m.protocol, 5), KINDS.index(m.kind))

    return sorted(members, key=key)  # stable: the file's order within a group


def runs_of(wins: list[Window], repeats: int) -> int:
    """Timed measurements of these windows (every member, every repeat)."""
    return sum(len(w.members) for w in wins) * repeats


def transports_of(wins: list[Window]) -> dict[str, tuple[str, ...]]:
    """Each server of the windows → the transports it must listen on."""
    out: dict[str, set[str]] = {}
    for w in wins:
        for m in w.members:
            if m.kind != "inproc":
                out.setdefault(m.server, set()).add(transport(m.protocol))
    return {name: tuple(sorted(t)) for name, t in out.items()}


def goal_members(s: Settings, window: Window) -> dict[str, tuple[Member, ...]]:
    """Each goal whose subject is measured in this window → the members its ratio needs (the
    subject, its baseline, and its floor when the metric is above the floor), in window order."""
    out = {}
    for goal in s.goals:
        where = goal.subject
        cell = (where.get("model"), where.get("batch"), where.get("concurrency", s.reference_concurrency))
        if cell != (window.model, window.batch, window.concurrency):
            continue
        protocol, server = where.get("protocol"), where.get("server")
        wanted = {(server, protocol)}
        b = goal.baseline
        if "seed" in b:
            wanted.add((b["seed"], TOY_PROTOCOL))
        if "serve" in b:
            wanted.add((b["serve"].get("server"), b["serve"].get("protocol", protocol)))
        if "inproc" in b:
            wanted.add((b["inproc"], WORK_OF.get(protocol or "", "protobuf")))
        if "floor" in b or goal.metric == "server_cpu_above_floor_us_per_req":
            wanted.add((floor_of(s, server, protocol or ""), protocol))
        members = tuple(m for m in window.members if (m.server, m.protocol) in wanted)
        if any((m.server, m.protocol) == (server, protocol) for m in members):
            out[goal.key] = members
    return out
