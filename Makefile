# The two commands of the README: `make demo` (the main job) and `make test` (all tests).
# Everything they need is installed by the project's own scripts, cached outside the repo.

CARGO ?= cargo
SHELL := /bin/bash

.PHONY: test demo provision build crd bench bench-scale lint mutants

## Runs every test: unit, property, CLI, and the end-to-end tests on a local Kubernetes
## built from source (provisioned first, idempotently).
test: provision
	$(CARGO) build --workspace --locked
	$(CARGO) test --workspace --locked --no-fail-fast 2>&1 | tee target/test.log; \
	status=$${PIPESTATUS[0]}; \
	passed=$$(grep -Eo '[0-9]+ passed' target/test.log | awk '{s+=$$1} END {print s+0}'); \
	failed=$$(grep -Eo '[0-9]+ failed' target/test.log | awk '{s+=$$1} END {print s+0}'); \
	echo; echo "$$passed passed, $$failed failed"; \
	exit $$status

## Brings up the local Kubernetes of e2e/ when no cluster is configured, then runs the
## operator on examples/l1.yaml.
demo: build provision
	bash e2e/demo.sh

provision:
	@mkdir -p target
	bash e2e/provision.sh

build:
	$(CARGO) build --workspace --locked

## Regenerates crds/ from the Rust types (a test fails when they drift).
crd:
	$(CARGO) run -q -p bp-generator -- crd > crds/builderplaygrounds.playground.flashbots.io.yaml
	cp crds/builderplaygrounds.playground.flashbots.io.yaml charts/builder-playground-operator/files/crds/

## Prints the time to convert and render each fixture manifest.
bench:
	$(CARGO) bench -p bp-generator --bench render

## Creates 1, 10 and 100 playgrounds on the local cluster and prints times to Deployed and
## Ready, the operator's peak RSS and API requests per playground, against a direct client.
bench-scale: provision
	$(CARGO) build --release --workspace --locked
	$(CARGO) bench -p bp-operator --bench scale

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## Mutation testing, not part of `make test` (hours, not minutes): cargo-mutants changes the
## generator and the operator's pure modules one mutant at a time and runs the fast tests on
## each (the operator's lib tests only: its tests/ start clusters). Prints the share of viable
## mutants caught and fails below 95%. Scope and the few exclusions: .cargo/mutants.toml.
## It edits the sources in place while it runs (the tests read ../shared beside the checkout);
## Ctrl-C restores them. A fixed proptest seed keeps the score repeatable, and no mutant's
## failure is saved as a proptest regression seed. Builds without debug info (each mutant is a
## rebuild; that makes them about a third faster) in target/mutants-build, so that the usual
## builds in target/ are left as they are. MUTANTS_ARGS passes more options (e.g. --iterate to
## test only what the last run did not catch).
mutants:
	@mkdir -p target/mutants
	export PROPTEST_RNG_SEED=1 PROPTEST_DISABLE_FAILURE_PERSISTENCE=1 PROPTEST_MAX_SHRINK_ITERS=0 \
		CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0 CARGO_TARGET_DIR=$(CURDIR)/target/mutants-build; \
	$(CARGO) mutants --in-place $(MUTANTS_ARGS) -p bp-generator -o target/mutants/generator; \
	$(CARGO) mutants --in-place $(MUTANTS_ARGS) -p bp-operator -o target/mutants/operator -- --lib; \
	status=0; echo; \
	for part in generator operator; do \
		out=target/mutants/$$part/mutants.out; \
		caught=$$(cat $$out/caught.txt $$out/timeout.txt 2>/dev/null | wc -l); \
		missed=$$(cat $$out/missed.txt 2>/dev/null | wc -l); \
		awk -v p=$$part -v c=$$caught -v m=$$missed -v out=$$out 'BEGIN { \
			if (c + m == 0) { printf "%s: no results (did the unmutated tests fail? %s/log)\n", p, out; exit 1 } \
			printf "%s: %d of %d viable mutants caught (%.1f%%)%s\n", p, c, c + m, 100 * c / (c + m), \
				m ? "; missed: " out "/missed.txt" : ""; exit (100 * c < 95 * (c + m)) }' || status=1; \
	done; \
	exit $$status
