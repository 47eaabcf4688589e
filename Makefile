# servebench — `make help` lists the targets. On a fresh machine: `make bench` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
TOOLS     := $(CURDIR)/.tools/bin
PEERS     := $(CURDIR)/.tools/peers
MODELS    := models
GO_BIN    := go_service/bin/go_service
BENCH_TOY := bench/toy/go/bin/toy
NETPROXY  := bench/netproxy/bin/netproxy
PROTO_DIR := proto/predict/v1
V2_PROTO  := proto/inference/open_inference_grpc.proto
export GOFLAGS := -buildvcs=false

# Pinned tool versions (go install …@version into .tools/bin).
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.1
HEY_VERSION                := v0.1.4
GHZ_VERSION                := v0.121.0
GRPCURL_VERSION            := v1.9.3
STATICCHECK_VERSION        := v0.8.2
VEGETA_VERSION             := v12.13.0

PROFILE    ?= full
BENCH_ARGS ?=
SOAK_ARGS  ?=
COMPARE_ARGS ?=

.PHONY: help setup tools proto check-proto models build bench-toys serve-python serve-go \
        test test-unit unit-go unit-python test-go test-python test-conformance test-reliability vectors lint fmt \
        bench bench-quick bench-capacity bench-network bench-compare soak clean peers

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  make %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --- set-up -------------------------------------------------------------------------------------
setup: $(VENV)/.installed ## create .venv from requirements.txt (+ requirements-test.txt) and install servebench into it (editable)

$(VENV)/.installed: requirements.txt requirements-test.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q -r requirements-test.txt -c requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $@

tools: $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(TOOLS)/hey $(TOOLS)/ghz $(TOOLS)/vegeta $(TOOLS)/grpcurl $(TOOLS)/staticcheck ## install the pinned Go tools (load generators, protoc plugins, staticcheck) into .tools/bin

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(TOOLS)/hey:
	GOBIN=$(TOOLS) go install github.com/rakyll/hey@$(HEY_VERSION)
$(TOOLS)/ghz:
	GOBIN=$(TOOLS) go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)
$(TOOLS)/vegeta:
	GOBIN=$(TOOLS) go install github.com/tsenart/vegeta/v12@$(VEGETA_VERSION)
$(TOOLS)/grpcurl:
	GOBIN=$(TOOLS) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)
$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# The bench's peers (PROFILE=peers): other V2 servers, each pinned in a virtualenv of its own under
# .tools/peers/NAME from bench/peers/requirements-NAME.txt (a full `pip freeze` of a resolved
# install). KServe's venv is its own because it needs a newer FastAPI than MLServer 1.7.1 takes.
peers: $(PEERS)/mlserver/.installed $(PEERS)/kserve/.installed ## install the pinned peers (MLServer 1.7.1 + its scikit-learn runtime; KServe's Python model server) into .tools/peers

$(PEERS)/%/.installed: bench/peers/requirements-%.txt
	rm -rf $(PEERS)/$*
	python3 -m venv $(PEERS)/$*
	$(PEERS)/$*/bin/python -m pip install -q --upgrade pip
	$(PEERS)/$*/bin/python -m pip install -q -r $<
	$(PEERS)/$*/bin/python -m pip check
	touch $@

# --- the contract: generated stubs and the Go server's copies of its data files -----------------
# The Go server embeds copies of the contract files it reads at run time (go:embed cannot reach
# outside the module): the metadata schema and errors.json (its admission defaults).
GO_CONTRACT_COPIES := go_service/internal/contract/metadata.schema.json go_service/internal/contract/errors.json

go_service/internal/contract/%.json: $(PROTO_DIR)/%.json
	cp $< $@

proto: setup $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc ## regenerate the Python and Go stubs (and the Go copies of the contract's data files) from proto/
	mkdir -p python_service/gen/predict/v1 python_service/gen/inference go_service/gen
	$(PY) -m grpc_tools.protoc -I proto \
	  --python_out=python_service/gen --pyi_out=python_service/gen --grpc_python_out=python_service/gen \
	  --plugin=protoc-gen-go=$(TOOLS)/protoc-gen-go --plugin=protoc-gen-go-grpc=$(TOOLS)/protoc-gen-go-grpc \
	  --go_out=go_service --go_opt=module=servebench/go_service \
	  --go-grpc_out=go_service --go-grpc_opt=module=servebench/go_service \
	  $(PROTO_DIR)/predict.proto $(V2_PROTO)
	# protoc writes `from predict.v1 import …` / `from inference import …`; make the stubs importable
	# as python_service.gen.predict.v1 and python_service.gen.inference
	sed -i -E 's/^from ((predict|inference)(\.[A-Za-z0-9_]+)*) import (.*_pb2)/from python_service.gen.\1 import \4/' \
	  python_service/gen/predict/v1/*_pb2*.py python_service/gen/inference/*_pb2*.py
	touch python_service/gen/__init__.py python_service/gen/predict/__init__.py python_service/gen/predict/v1/__init__.py \
	  python_service/gen/inference/__init__.py
	cp $(PROTO_DIR)/metadata.schema.json $(PROTO_DIR)/errors.json go_service/internal/contract/

check-proto: proto ## regenerate and fail if the committed stubs or copies differ from proto/
	@git diff --exit-code -- python_service/gen go_service/gen go_service/internal/contract \
	  && test -z "$$(git status --porcelain -- python_service/gen go_service/gen go_service/internal/contract)" \
	  || { echo "check-proto: generated files drifted from proto/; run 'make proto' and commit" >&2; exit 1; }
	@echo "check-proto: generated stubs and copies match proto/"

# --- models and servers -------------------------------------------------------------------------
models: setup ## train + export the default ONNX models into models/ (skips up-to-date ones; FORCE=1 re-exports)
	$(PY) -m python_service export --out $(MODELS) $(if $(FORCE),--force)

GO_SRCS := $(shell find go_service -name '*.go' -not -path 'go_service/bin/*') $(shell find go_service -name '*.json') go_service/go.mod go_service/go.sum

build: $(GO_BIN) ## build the Go server → go_service/bin/go_service (and the bench's open-loop gRPC generator, bin/openloop)

$(GO_BIN): $(GO_SRCS) $(GO_CONTRACT_COPIES)
	cd go_service && go build -o bin/go_service ./cmd/go_service && go build -o bin/openloop ./cmd/openloop

bench-toys: $(BENCH_TOY) ## build the seed post's toy Go server → bench/toy/go/bin/toy

$(BENCH_TOY): bench/toy/go/main.go bench/toy/go/go.mod bench/toy/go/go.sum
	cd bench/toy/go && go build -o bin/toy .

$(NETPROXY): $(wildcard bench/netproxy/*.go) bench/netproxy/go.mod bench/netproxy/go.sum
	cd bench/netproxy && go build -o bin/netproxy .

serve-python: models ## run the Python server on models/ (gRPC 127.0.0.1:50051, HTTP 127.0.0.1:5000; Ctrl-C stops)
	$(PY) -m python_service serve --models $(MODELS)

serve-go: build models ## run the Go server on models/ (gRPC 127.0.0.1:50052, HTTP 127.0.0.1:8080; Ctrl-C stops)
	$(GO_BIN) --models $(MODELS)

# --- tests --------------------------------------------------------------------------------------
test: setup models build tools bench-toys $(NETPROXY) ## every test: Go (go test -race), Python service, bench, cross-language conformance (also over TLS)
	cd go_service && go test -race ./...
	cd bench/netproxy && go test -race ./...
	$(PY) -m pytest
	SERVEBENCH_TLS=1 $(PY) -m pytest tests/conformance

test-unit: setup models $(GO_CONTRACT_COPIES) ## the fast tier (< 30 s): Go and Python tests that start no server process
	@$(MAKE) --no-print-directory -j2 --output-sync=target unit-go unit-python

# the two halves of test-unit, run side by side (one CPU each)
unit-go:
	cd go_service && go test -short ./...
unit-python:
	$(PY) -m pytest -q -m "not process" -n 2

test-go: setup models $(GO_CONTRACT_COPIES) ## Go tests with the race detector (real libonnxruntime from .venv, real models/)
	cd go_service && go test -race ./...

test-python: setup models build tools bench-toys $(NETPROXY) ## the pytest suites only (tests/: Python service, bench, conformance)
	$(PY) -m pytest

test-conformance: setup models build $(TOOLS)/grpcurl ## every vector on Python/Go × gRPC/HTTP, cross-endpoint parity, grpcurl; in plaintext, then over TLS
	$(PY) -m pytest tests/conformance
	SERVEBENCH_TLS=1 $(PY) -m pytest tests/conformance

test-reliability: setup models build tools ## the attack suite (a few minutes): slow clients, overload, bad framing, abuse, kill -9, broken models → results/reliability-latest/
	$(PY) -m pytest -m reliability tests/reliability

vectors: models ## regenerate tests/vectors/*.json (expected answers from scikit-learn; deterministic)
	$(PY) -m tests.vectors.generate --models $(MODELS)

# --- lint and format ----------------------------------------------------------------------------
lint: setup $(TOOLS)/staticcheck ## ruff check + ruff format --check (Python); gofmt, go vet, staticcheck (Go)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@unformatted="$$(gofmt -l go_service bench/toy/go bench/netproxy)"; \
	  if [ -n "$$unformatted" ]; then echo "gofmt: not formatted (run make fmt):"; echo "$$unformatted"; exit 1; fi
	cd go_service && go vet ./... && $(TOOLS)/staticcheck ./...
	cd bench/toy/go && go vet ./... && $(TOOLS)/staticcheck ./...
	cd bench/netproxy && go vet ./... && $(TOOLS)/staticcheck ./...

fmt: setup ## format and auto-fix: ruff format + ruff check --fix (Python), gofmt -w (Go)
	$(VENV)/bin/ruff check --fix-only -q .
	$(VENV)/bin/ruff format .
	gofmt -w go_service bench/toy/go bench/netproxy

# --- bench --------------------------------------------------------------------------------------
bench: setup models build tools bench-toys $(NETPROXY) $(if $(filter peers,$(PROFILE)),peers) ## benchmark Python vs Go × HTTP vs gRPC (PROFILE=full|quick|capacity|capacity-iris|metrics-cost|network|network-brief|peers, BENCH_ARGS=…) → results/latest
	$(PY) -m bench --profile $(PROFILE) $(BENCH_ARGS)

bench-quick: ## the quick profile (< 2 min) and a smoke check of its results (what CI runs)
	$(MAKE) --no-print-directory bench PROFILE=quick
	$(PY) -m bench.report.smoke_check results/latest

bench-capacity: ## capacity at the p99 SLO alone: iris-logreg batch 1 on the four endpoints (< 5 min) → results/latest
	$(MAKE) --no-print-directory bench PROFILE=capacity-iris
	$(PY) -m bench.report.smoke_check results/latest

bench-network: ## protocols across emulated networks alone (< 8 min; root for the namespace, else skipped) → results/latest
	$(MAKE) --no-print-directory bench PROFILE=network-brief

bench-compare: ## compare two runs: A=results/RUN_A B=results/RUN_B (COMPARE_ARGS="--fail-on-slowdown 10 --json out.json")
	@test -n "$(A)" -a -n "$(B)" || { echo "usage: make bench-compare A=results/RUN_A B=results/RUN_B" >&2; exit 2; }
	$(PY) -m bench compare $(A) $(B) $(COMPARE_ARGS)

soak: setup models build tools ## 10 min at 70% of measured capacity on all four endpoints: RSS growth, errors, p99 drift → results/soak-latest (not in CI)
	$(PY) -m bench.soak $(SOAK_ARGS)

clean: ## remove build outputs, models and results (keeps .venv and .tools)
	rm -rf go_service/bin $(BENCH_TOY) $(NETPROXY) $(MODELS) results
