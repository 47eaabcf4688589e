"""What the network stage checks before it measures: each profile's added round trip (calibrated
where the proxy makes it) and the encoded sizes of every way's requests and answers.

Calibration: the null server (the seed's Go toy) at one request in flight, kept alive, through the
profile; its p50 minus its p50 through loopback is the profile's measured added round trip, which
the report prints beside the one set. In proxy mode the proxy's own hop (~0.04 ms here) and its
wake-ups add to the delays it is given, so the stage measures with half the round trip each way,
corrects the delay by what was off, and measures again, until on target or out of tries (the last
measurement is the one reported). netem is measured, not corrected.
"""

from __future__ import annotations

import http.client
import json

from bench.analysis import stats
from bench.results import NetworkProfileResult
from bench.run import netem, netload
from bench.run.lifecycle import grpc_channel, ssl_context
from bench.run.loadgen import JSON, PROTOBUF, LoadError

NULL = "null"  # the null server's upstream name
_PREDICT = "/predict.v1.PredictionService/Predict"


class Calibration:
    def __init__(self, sup, plan, emu: netem.Emulator, null_address: str, knobs):
        self.sup, self.plan, self.emu, self.null, self.n = sup, plan, emu, null_address, knobs
        self.loopback_p50: float | None = None

    def _p50(self, profile: netem.Profile) -> float | None:
        outcome = netload.null_run(
            self.sup,
            self.plan.tools,
            self.emu.address(profile, NULL, self.null),
            prefix=self.emu.client_prefix(profile),
            cpus=self.plan.client_cpus,
            duration_s=max(self.n.calibration_s, 20 * profile.rtt_ms / 1e3),
        )
        return stats.latency_summary(outcome.latencies_ms).p50

    def on_target(self, profile: netem.Profile, added: float | None, margin: float = 1.0) -> bool:
        """Within the tolerance (× margin: calibration aims at half of it) of the round trip set."""
        tolerance = max(self.n.rtt_tolerance * profile.rtt_ms, self.n.rtt_tolerance_ms) * margin
        return added is not None and abs(added - profile.rtt_ms) <= tolerance

    def profile(self, profile: netem.Profile) -> NetworkProfileResult:
        """Measure (and in proxy mode calibrate) one profile; loopback first, as the baseline."""
        p50 = self._p50(profile)
        if not profile.emulated:
            self.loopback_p50 = p50
            return NetworkProfileResult(
                profile.name, profile.rtt_ms, profile.bandwidth_mbit, 0.0, "none", p50, None, True
            )
        if self.loopback_p50 is None:
            raise LoadError("the loopback profile must come first: it is every other profile's baseline")
        emulation = (
            self.emu.mode if self.emu.mode == "netem" else "netproxy" + ("+tbf" if profile.bandwidth_mbit else "")
        )
        result = NetworkProfileResult(profile.name, profile.rtt_ms, profile.bandwidth_mbit, None, emulation)
        delay_us = profile.rtt_ms * 500
        for attempt in range(self.n.calibration_tries if self.emu.mode == "proxy" else 1):
            if attempt:
                p50 = self._p50(profile)
            added = p50 - self.loopback_p50 if p50 is not None else None
            result.calibration.append({"delay_us": delay_us, "added_rtt_ms": added})
            result.measured_added_rtt_ms, result.null_p50_ms = added, p50
            if self.emu.mode != "proxy" or added is None or self.on_target(profile, added, margin=0.5):
                break
            if attempt + 1 < self.n.calibration_tries:  # correct by half what the round trip was off
                delay_us = max(0.0, delay_us + (profile.rtt_ms - added) * 500)
                self.emu.set_delay(profile, delay_us)
        result.one_way_delay_us = delay_us if self.emu.mode == "proxy" else None
        result.on_target = self.on_target(profile, result.measured_added_rtt_ms)
        return result


def probe(running: dict, ways, cases, bodies: dict, ca: str) -> dict[tuple, dict[str, int]]:
    """(server, protocol, model, batch) → {"up": request bytes, "down": answer bytes}: one request of
    each case over each way's protocol to each server, straight (no emulation), checking that it is
    answered with one prediction per row."""
    sizes = {}
    for (name, tls), server in running.items():
        for protocol in sorted({w.protocol for w in ways if w.tls == tls}):
            for case in cases:
                key = (name, protocol, case.model, case.batch)
                if key in sizes:  # the same bytes with or without TLS
                    continue
                with open(bodies[(case.model, case.batch, "json")], "rb") as fh:
                    json_body = fh.read()
                with open(bodies[(case.model, case.batch, "protobuf")], "rb") as fh:
                    pb_body = fh.read()
                if protocol.startswith("http"):
                    sizes[key] = _http(server.endpoints["http"], protocol, json_body, pb_body, ca if tls else None)
                else:
                    sizes[key] = _grpc(server.endpoints["grpc"], pb_body, ca if tls else None)
                _check_answer(key, sizes[key].pop("answer"), case.batch)
    return sizes


def _http(address, protocol, json_body, pb_body, ca):
    conn = (
        http.client.HTTPSConnection(address, timeout=30, context=ssl_context(ca))
        if ca
        else http.client.HTTPConnection(address, timeout=30)
    )
    protobuf = protocol == "http-protobuf"
    headers = {"Content-Type": PROTOBUF, "Accept": PROTOBUF} if protobuf else {"Content-Type": JSON}
    body = pb_body if protobuf else json_body
    try:
        conn.request("POST", "/v1/predict", body, headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise LoadError(f"{address} {protocol}: HTTP {resp.status} {data[:200]!r}")
    return {"up": len(body), "down": len(data), "answer": _decode(data, protobuf)}


def _grpc(address, pb_body, ca):
    with grpc_channel(address, ca) as channel:
        data = channel.unary_unary(_PREDICT, request_serializer=None, response_deserializer=None)(pb_body, timeout=30)
    return {"up": len(pb_body), "down": len(data), "answer": _decode(data, True)}


def _decode(data: bytes, protobuf: bool) -> int:
    """The number of predictions in an answer."""
    if protobuf:
        from python_service.gen.predict.v1 import predict_pb2

        return len(predict_pb2.PredictResponse.FromString(data).predictions)
    return len(json.loads(data)["predictions"])


def _check_answer(key, predictions: int, batch: int) -> None:
    if predictions != batch:
        raise LoadError(f"{key}: {predictions} predictions for a batch of {batch}")
