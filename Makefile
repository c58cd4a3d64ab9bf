# Two commands matter: `make serve` and `make test`. Both set everything up from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test test-workers test-under-load examples bench bench-isolation bench-probe fuzz soak install debian-packages clean

# What the tests run for real: shells (dash, busybox: the static build, as probe-shell: bundled ships it),
# Chromium with its driver for the page, Redis for the Python writer's check, and Go for the probe server.
TEST_DEBIAN_PACKAGES := busybox-static dash chromium chromium-driver redis-server golang-go

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/workerguard serve --host 127.0.0.1 --port 8443 --tls-cert certs/tls.crt --tls-key certs/tls.key \
		--generate-dev-certs --log-format human

# The runnable examples' frameworks: Redis, Sidekiq (Debian's 6.4), Go, and Celery (every pool) and RQ in the venv.
EXAMPLE_DEBIAN_PACKAGES := redis-server redis-tools ruby-sidekiq golang-go util-linux rabbitmq-server
EXAMPLES_STAMP := $(VENV)/.examples

$(EXAMPLES_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,examples]'
	touch $(EXAMPLES_STAMP)

# The writers are installed as users install them, from the built packages, not the source tree: the
# wheel into the venv, the gem into build/gems (the Sidekiq example's GEM_PATH).
examples: $(STAMP)
	@$(MAKE) --no-print-directory debian-packages PACKAGES="$(EXAMPLE_DEBIAN_PACKAGES)"
	@$(MAKE) --no-print-directory $(EXAMPLES_STAMP)
	rm -rf build/dist build/gems && $(BIN)/python -m pip wheel --quiet --disable-pip-version-check --no-deps -w build/dist ./writers/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps build/dist/workerguard_heartbeat-*.whl
	cd writers/ruby && gem build --quiet workerguard-heartbeat.gemspec --output ../../build/dist/workerguard-heartbeat.gem
	gem install --local --no-document --install-dir build/gems build/dist/workerguard-heartbeat.gem >/dev/null

# Each example against the injected probes, with short max-ages (a few minutes), then the writers' own tests.
# Go needs a build cache; CI may have no HOME to put one under.
export GOCACHE ?= $(CURDIR)/build/go-cache

test-workers: examples
	cd writers/go && GOFLAGS=-mod=mod GOPROXY=off go vet ./... && GOFLAGS=-mod=mod GOPROXY=off go test ./...
	ruby writers/ruby/test/heartbeat_test.rb
	$(BIN)/python -m pytest -p no:cacheprovider --timeout=300 tests/workers

# Installs what is missing as root; otherwise says in one line what to install.
debian-packages:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q ' installed$$' || echo $$p; done); \
	missing=$$(echo $$missing); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages; as root run: apt-get install $$missing" >&2; exit 2; fi; \
	echo "installing Debian packages: $$missing"; \
	apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq $$missing >/dev/null

# axe-core, the page tests' accessibility check, from the npm registry at setup (never fetched while tests run).
AXE := build/axe/node_modules/axe-core/axe.min.js

$(AXE):
	npm install --prefix build/axe --no-save --no-audit --no-fund axe-core@4

# The suite spends more time waiting (for shells, servers, the browser) than computing, so three
# processes on two cores finish it in about half the time of one. test-workers stays serial: its real
# frameworks time their own drains.
PYTEST_PROCESSES ?= 3

test: $(STAMP) $(AXE)
	@$(MAKE) --no-print-directory debian-packages PACKAGES="$(TEST_DEBIAN_PACKAGES)"
	$(BIN)/ruff check webhook tests bench examples writers
	$(BIN)/ruff format --check webhook tests bench examples writers
	$(BIN)/lint-imports
	$(BIN)/mypy --strict webhook
	cd probe-server && GOFLAGS=-mod=mod GOPROXY=off go vet ./... && GOFLAGS=-mod=mod GOPROXY=off go test ./...
	$(BIN)/python -m pytest -n $(PYTEST_PROCESSES)

# Not part of CI: make test's pytest run while a hog keeps every core busy, as on a shared CI runner, so a
# test that passes only on an idle machine shows here first. The hog stops when the suite ends, whatever
# its result, and by itself after HOG_SECONDS in any case.
HOG_SECONDS ?= 1200

test-under-load: $(STAMP) $(AXE)
	@$(MAKE) --no-print-directory debian-packages PACKAGES="$(TEST_DEBIAN_PACKAGES)"
	@$(BIN)/python -m bench.hog --seconds $(HOG_SECONDS) & hog=$$!; \
	trap 'kill $$hog 2>/dev/null; wait $$hog 2>/dev/null' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	started=$$(date +%s); $(BIN)/python -m pytest -n $(PYTEST_PROCESSES); status=$$?; \
	echo "test-under-load: pytest exited $$status after $$(( $$(date +%s) - started ))s beside the hog"; exit $$status

# 10,000 examples per property (make test runs 150): about 15 minutes on 2 cores.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -p no:cacheprovider --timeout=0 --hypothesis-show-statistics \
		tests/test_properties.py tests/test_server_properties.py

# Faults under load on loopback, each reported as figures; bounded, stops by itself.
soak: $(STAMP)
	$(BIN)/python -m bench.soak

# Not part of `make test`: about three minutes of load on both cores (needs Debian's wrk).
bench: $(STAMP)
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk"; exit 2; }
	$(BIN)/python -m bench.run

# /mutate and /readyz latency alone and while 4 clients post 2 MB previews in a loop (about 40 s).
bench-isolation: $(STAMP)
	$(BIN)/python -m bench.isolation

# workerguard-probe's CPU per request and memory beside an exec readiness run's CPU (about 30 s; needs go, dash).
bench-probe: $(STAMP)
	$(BIN)/python -m bench.probe_server

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
