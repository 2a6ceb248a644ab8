# cinch's tasks. `make test` is what CI runs (through .ci/run).
GO ?= go
BIN := bin/cinch
DEMO := .demo

.PHONY: all build test lint bench demo docs clean

all: lint test

build:
	$(GO) build -o $(BIN) ./cmd/cinch

# Unit and integration tests, plus lint (CI's gate).
test: lint
	$(GO) test ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Decoder and recorder throughput (events/s) on the booksapp stream.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./observe/...

# Generate the bundled shop scenario, record it and show the graph.
demo: build
	$(GO) run ./fixtures/gen -scenario fixtures/scenarios/shop.yaml -out $(DEMO)
	$(BIN) observe --from-file $(DEMO)/shop.tap.json --cluster-file $(DEMO)/shop.cluster.yaml -o $(DEMO)/shop.recording.yaml
	$(BIN) graph show $(DEMO)/shop.recording.yaml

# Regenerate the command reference under docs/reference.
docs:
	$(GO) run ./cmd/cinch docs --dir docs/reference

clean:
	rm -rf bin $(DEMO)
