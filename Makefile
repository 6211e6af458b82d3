# fundledger — common tasks. Every target is phony; see scripts/ for details.
GO ?= go

.PHONY: build test demo bench faults fuzz migrate lint clean console-assets console-screenshots

build:
	$(GO) build -o bin/fundledger ./cmd/fundledger

# The whole suite: PostgreSQL via scripts/pg-ensure.sh, go vet, go test -race.
test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

# The benchmark: cmd/bench runs .data/bin/fundledger as serve (see
# docs/performance.md). BENCH_SCALE, BENCH_ONLY, BENCH_RUNS, BENCH_PPROF,
# BENCH_COMPARE=<older fundledger binary> and BENCH_FLOOR tune it.
bench:
	bash scripts/bench.sh

faults:
	bash scripts/faults.sh

fuzz:
	$(GO) test -run XXX -fuzz FuzzDecode -fuzztime 60s ./events/

# Needs DATABASE_URL (e.g. DATABASE_URL=$$(bash scripts/pg-ensure.sh) make migrate).
migrate:
	$(GO) run ./cmd/fundledger migrate

# gofmt check over the repo's Go files (hidden dirs such as .data/ skipped), then go vet.
lint:
	@out="$$(find . -path './.*' -prune -o -path './bin' -prune -o -path './data' -prune -o -path './vendor' -prune -o -type f -name '*.go' -exec gofmt -l {} +)"; \
	if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The web console's htmx and ECharts, from the npm registry as
# console/assets/package-lock.json pins them, integrity-checked (needs npm;
# building and testing do not).
console-assets:
	bash scripts/console-assets.sh

# The screenshots of docs/console.md, made by the console's browser test.
console-screenshots:
	FUNDLEDGER_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console PKGS=./console/ bash scripts/test.sh -run TestConsoleInBrowser

clean:
	rm -rf bin
