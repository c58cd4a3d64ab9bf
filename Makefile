# Two commands matter: `make serve` and `make test`. Both set everything up from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test bench fuzz soak install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/workerguard serve --host 127.0.0.1 --port 8443 --tls-cert certs/tls.crt --tls-key certs/tls.key \
		--generate-dev-certs --log-format human

test: $(STAMP)
	$(BIN)/ruff check webhook tests bench examples
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# 10,000 examples per property (make test runs 150): several minutes.
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

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
