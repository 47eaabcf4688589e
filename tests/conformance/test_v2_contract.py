"""The Open Inference Protocol's contract files (proto/inference) and shared cases
(tests/vectors/v2/cases.json) checked against each other and against predict.v1's rules, with no
server: run by `make test-unit`."""

import importlib.metadata

from python_service import contract as v1
from python_service.gen.inference import open_inference_grpc_pb2 as pb
from tests.conformance.v2_endpoints import WAYS, conditions, contract, load_cases

RPCS = ["ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer"]


def test_statuses_follow_predict_v1s_rule():
    """Each V2 condition's HTTP status is predict.v1's code → status rule applied to its gRPC code
    (UNIMPLEMENTED: 405 or 415, as predict.v1 answers a wrong method or media type)."""
    table = v1.load("errors.json")
    for cond in contract("errors.json")["conditions"]:
        code, status = cond["grpc_code"], cond["http_status"]
        if cond["source"] == "grpc":
            assert status is None, cond
        elif code == "UNIMPLEMENTED":
            assert status in (405, 415), cond
        elif cond.get("retryable"):
            assert status == table["http_status_for_code_when_retryable"][code], cond
        else:
            assert status == table["http_status_for_code"][code], cond


def test_server_version_is_the_package_version():
    assert contract("model.json")["server"]["version"] == importlib.metadata.version("servebench")


def test_routes_name_the_six_rpcs():
    assert sorted({r["rpc"] for r in contract("routes.json")["routes"]}) == sorted(RPCS)


def test_proto_is_the_specifications_service():
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert pb.DESCRIPTOR.package == "inference"
    assert [m.name for m in service.methods] == RPCS
    infer = pb.ModelInferRequest.DESCRIPTOR.fields_by_name
    assert (
        infer["raw_input_contents"].number,
        pb.ModelInferResponse.DESCRIPTOR.fields_by_name["raw_output_contents"].number,
    ) == (7, 6)


def test_metrics_know_the_v2_methods():
    assert {"ModelInfer", "ModelMetadata"} <= set(v1.load("metrics.json")["label_values"]["method"])


def test_cases_are_well_formed():
    conds, names = conditions(), set()
    for case in load_cases():
        assert case["name"] not in names, case["name"]
        names.add(case["name"])
        assert case["ways"] and set(case["ways"]) <= set(WAYS), case["name"]
        assert ("http" in case) == (case["ways"] == ["http"]), case["name"]
        expect = case["expect"]
        assert ("error" in expect) != ("outputs" in expect), case["name"]
        if "error" in expect:
            cond = conds[expect["error"]]
            if cond["source"] == "grpc":
                assert all(w.startswith("grpc") for w in case["ways"]), case["name"]
            if cond["source"] == "http":
                assert not any(w.startswith("grpc") for w in case["ways"]), case["name"]
