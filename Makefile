# servebench — `make help` lists the targets. On a fresh machine: `make bench` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
TOOLS     := $(CURDIR)/.tools/bin
MODELS    := models
GO_BIN    := go_service/bin/go_service
export GOFLAGS := -buildvcs=false

# Pinned tool versions (go install …@version into .tools/bin).
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.1
HEY_VERSION                := v0.1.4
GHZ_VERSION                := v0.121.0
GRPCURL_VERSION            := v1.9.3

PROFILE ?= full

.PHONY: help setup tools proto check-proto models build serve-python serve-go test test-python test-go bench bench-quick bench-toys clean

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  make %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(VENV)/.installed ## create .venv from requirements.txt (idempotent)

$(VENV)/.installed: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip check
	touch $@

tools: $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(TOOLS)/hey $(TOOLS)/ghz $(TOOLS)/grpcurl ## install pinned Go tools into .tools/bin

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(TOOLS)/hey:
	GOBIN=$(TOOLS) go install github.com/rakyll/hey@$(HEY_VERSION)
$(TOOLS)/ghz:
	GOBIN=$(TOOLS) go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)
$(TOOLS)/grpcurl:
	GOBIN=$(TOOLS) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

PROTO_SRC := proto/predict/v1/predict.proto

proto: setup $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc ## regenerate Python and Go stubs from proto/
	mkdir -p python_service/gen go_service/gen
	$(PY) -m grpc_tools.protoc -I proto \
	  --python_out=python_service/gen --pyi_out=python_service/gen --grpc_python_out=python_service/gen \
	  --plugin=protoc-gen-go=$(TOOLS)/protoc-gen-go --plugin=protoc-gen-go-grpc=$(TOOLS)/protoc-gen-go-grpc \
	  --go_out=go_service --go_opt=module=servebench/go_service \
	  --go-grpc_out=go_service --go-grpc_opt=module=servebench/go_service \
	  $(PROTO_SRC)

check-proto: proto ## regenerate stubs and fail if they differ from the committed ones
	@git diff --exit-code -- python_service/gen go_service/gen \
	  && test -z "$$(git status --porcelain -- python_service/gen go_service/gen)" \
	  || { echo "check-proto: generated stubs drifted from proto/; run 'make proto' and commit" >&2; exit 1; }
	@echo "check-proto: generated stubs match proto/"

models: setup ## train + export the default ONNX models into models/ (skips up-to-date ones; FORCE=1 re-exports)
	$(PY) -m python_service export --out $(MODELS) $(if $(FORCE),--force)

serve-python: models ## run the Python server on models/ (gRPC 127.0.0.1:50051, HTTP 127.0.0.1:5000; Ctrl-C stops)
	$(PY) -m python_service serve --models $(MODELS)

# --- Go service (issue 3) ----------------------------------------------------------------------
GO_SRCS := $(shell find go_service -name '*.go' -not -path 'go_service/bin/*') go_service/go.mod go_service/go.sum

build: $(GO_BIN) ## build the Go server → go_service/bin/go_service

$(GO_BIN): $(GO_SRCS)
	cd go_service && go build -o bin/go_service ./cmd/go_service

serve-go: build models ## run the Go server on models/ (gRPC 127.0.0.1:50052, HTTP 127.0.0.1:8080; Ctrl-C stops)
	$(GO_BIN) --models $(MODELS)

test-go: setup models ## Go tests with the race detector (real libonnxruntime from .venv, real models/)
	cd go_service && go test -race ./...

# --- bench (issue 5): hey + ghz against both servers, report in results/latest ------------------
BENCH_TOY  := bench/toy/go/bin/toy
BENCH_ARGS ?=

bench-toys: $(BENCH_TOY) ## build the seed post's toy Go server (bench/toy/go → bench/toy/go/bin/toy)

$(BENCH_TOY): bench/toy/go/main.go bench/toy/go/go.mod
	cd bench/toy/go && go build -o bin/toy .

bench: setup models build tools bench-toys ## benchmark Python vs Go × HTTP vs gRPC (PROFILE=full|quick, BENCH_ARGS=…) → results/latest
	$(PY) -m bench --profile $(PROFILE) $(BENCH_ARGS)

bench-quick: ## quick benchmark (< 2 min) and a smoke check of its results (what CI runs)
	$(MAKE) --no-print-directory bench PROFILE=quick
	$(PY) -m bench.smoke_check results/latest

# --- conformance (issue 4): one set of vectors, four endpoints ---------------------------------
.PHONY: vectors test-conformance

vectors: models ## regenerate tests/vectors/*.json (expected answers from scikit-learn; deterministic)
	$(PY) tests/vectors/generate.py --models $(MODELS)

test-conformance: setup models build $(TOOLS)/grpcurl ## every vector on Python/Go × gRPC/HTTP, parity, grpcurl (tests/conformance)
	$(PY) -m pytest tests/conformance

# --- the README's test command ------------------------------------------------------------------
test: setup models build tools ## all tests: Go (go test -race), Python service, bench, cross-language conformance
	cd go_service && go test -race ./...
	$(PY) -m pytest

test-python: setup models build tools ## the pytest suites only (tests/: Python service, bench, conformance)
	$(PY) -m pytest

clean: ## remove build outputs, models and results (keeps .venv and .tools)
	rm -rf go_service/bin bench/toy/go/bin $(MODELS) results
