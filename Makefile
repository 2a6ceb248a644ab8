# cinch's tasks. `make test` is what CI runs (through .ci/run).
GO ?= go
BIN := bin/cinch
DEMO := .demo

.PHONY: all build test lint bench fuzz e2e demo demo-data docs clean

all: lint test

# Stripped as the release build is (-s -w: no symbol table, no DWARF), which halves the link.
build:
	$(GO) build -ldflags="-s -w" -o $(BIN) ./cmd/cinch

# Unit and integration tests, plus lint (CI's gate).
test: lint
	$(GO) test ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Every benchmark in one run on one core, so the rows compare (docs/performance.md): decoders
# and ingest (events/s), Prometheus answers (series/s), synthesis, the evaluator, diff, and a
# 5,000-workload mesh through observe, synth and diff.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./observe/... ./synth/...
	$(GO) test -run '^$$' -bench LargeMesh -benchtime 1x -cpu 1 ./fixtures/mesh/

# Every fuzz target for FUZZTIME each (inputs that found bugs are kept under testdata/fuzz
# and run as regression tests by make test).
FUZZTIME ?= 30s
FUZZ := ./observe/tapstream:FuzzRawDecoder ./observe/tapstream:FuzzJSONDecoder \
	./observe/tapstream:FuzzTextDecoder ./observe/recording:FuzzDecode ./observe/recording:FuzzParseIdentity ./observe/prom:FuzzDecodeAnswer \
	./observe/pathseg:FuzzClassify ./observe/pathseg:FuzzCovers ./synth/policy:FuzzRead ./synth/routes:FuzzInfer
fuzz:
	@for t in $(FUZZ); do \
		echo "fuzz $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}" || exit 1; \
	done

# End-to-end tests: the cinch binary against a real kube-apiserver and etcd (Debian's
# etcd-server package), and the HTML report in headless Chromium (Debian's chromium; its
# screenshot is kept in .artifacts/). kube-apiserver is built first, once per version, into the e2e cache
# (a few minutes cold; see fixtures/kubeapi). CINCH_E2E=1 makes a missing etcd a failure.
e2e:
	$(GO) run ./fixtures/kubeapi/cmd/build-apiserver
	$(GO) vet -tags e2e ./fixtures/...
	CINCH_E2E=1 $(GO) test -tags e2e -count=1 -timeout 30m ./fixtures/e2e/... ./fixtures/kubeapi/...

# Record the bundled shop scenario (fixtures/demo/, generated from fixtures/scenarios/shop.yaml; a
# test fails when it is stale), show the graph, synthesize policy and diff it.
demo: build
	@mkdir -p $(DEMO)
	$(BIN) observe --from-file fixtures/demo/shop.tap.json.gz --cluster-file fixtures/demo/shop.cluster.yaml -o $(DEMO)/shop.recording.yaml
	$(BIN) graph show $(DEMO)/shop.recording.yaml
	$(BIN) synth $(DEMO)/shop.recording.yaml --level serviceaccount -o $(DEMO)/policy
	$(BIN) diff $(DEMO)/shop.recording.yaml --policy $(DEMO)/policy -o table

# Regenerate the bundled demo data from the shop scenario.
demo-data:
	$(GO) run ./fixtures/gen -scenario fixtures/scenarios/shop.yaml -out $(DEMO)/gen -gzip
	cp $(DEMO)/gen/shop.tap.json.gz $(DEMO)/gen/shop.cluster.yaml fixtures/demo/

# Regenerate the command reference under docs/reference.
docs:
	$(GO) run ./cmd/cinch docs --dir docs/reference

clean:
	rm -rf bin $(DEMO)
