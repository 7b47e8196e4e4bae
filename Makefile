# Benchmarks; see BENCHMARKS.md. Tests: ./scripts/test.sh.
#
#   make bench          micro-benchmarks, then the side-by-side load benchmark
#   make bench-micro    go test -bench for authcore and caddymodule
#   make bench-load     bench/cmd/cubebench: Caddy + wrk on 127.0.0.1
#
# BENCH_COUNT repeats each micro-benchmark (for benchstat); BENCH_FLAGS go to
# cubebench, e.g. BENCH_FLAGS='-phases proxy -rounds 5'. Results land in
# bench/out/.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

BENCH_COUNT ?= 5
BENCH_FLAGS ?=

.PHONY: bench bench-micro bench-load

bench: bench-micro bench-load

bench-micro:
	@mkdir -p bench/out
	go test ./authcore/ ./caddymodule/ -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) | tee bench/out/micro.txt

bench-load:
	@mkdir -p bench/out
	go run ./bench/cmd/cubebench -o bench/out/load.md $(BENCH_FLAGS)
