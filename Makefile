# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
TOOLS := .venv-tools
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
ENV := source scripts/env.sh &&
MODEL := models/triage.tar.gz
TRAINING_INPUTS := $(shell find data -name '*.yml' 2>/dev/null) domain.yml config.yml bot/rasa_nlu.py

.PHONY: help run run-scaled test test-unit lint install train migrate validate rasa-test nlu-eval nlu-report safety-report bench lock clean browser services

help:
	@echo "make run    - install, train if needed, migrate, start the bot on localhost"
	@echo "make run-scaled - the same on PostgreSQL + Redis + 2 Rasa replicas behind nginx"
	@echo "make test   - everything: lint and types, unit tests, Rasa checks, live end-to-end and vignettes"
	@echo "make lint   - ruff and mypy only"
	@echo "make test-unit - the tests that start no server (about 2 minutes)"
	@echo "make bench  - benchmarks (results in results/bench.json)"

# --- set-up -------------------------------------------------------------------
$(VENV)/.installed: requirements.lock
	@test -x $(PY) || "$$(scripts/find-python310.sh)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<25"
	$(PY) -m pip install --quiet -r requirements.lock
	touch $@

install: $(VENV)/.installed

# ruff and mypy in a venv of their own: mypy needs a newer typing_extensions than Rasa's
# TensorFlow pin allows. mypy reads the project's packages from $(VENV).
$(TOOLS)/.installed: requirements-tools.lock
	@test -x $(TOOLS)/bin/python || "$$(scripts/find-python310.sh)" -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade "pip<25"
	$(TOOLS)/bin/python -m pip install --quiet -r requirements-tools.lock
	touch $@

lock: install   ## re-pin after editing requirements.in
	$(PY) -m pip install --quiet -r requirements.in
	$(PY) -m pip freeze --exclude-editable > requirements.lock

# Rasa's own fingerprinting also skips unchanged parts; make skips the whole
# call when nothing the model depends on changed.
$(MODEL): $(TRAINING_INPUTS) | install
	$(ENV) $(RASA) train --fixed-model-name triage --out models --quiet

train: $(MODEL)

migrate: install
	$(ENV) $(VENV)/bin/alembic upgrade heads

run: install train migrate
	$(ENV) $(PY) -m bot.stack

# Scaled profile (bot/scaled.py): PostgreSQL, Redis, nginx from Debian, data in var/scaled/.
run-scaled: install train services
	$(ENV) $(PY) -m bot.scaled

# --- tests --------------------------------------------------------------------
test: lint install train browser services
	$(ENV) $(PY) -m pytest
	$(MAKE) --no-print-directory validate rasa-test nlu-eval

# The fast half: tests that start no server (tests/unit); tests/live starts real ones.
test-unit: install
	$(ENV) $(PY) -m pytest tests/unit

# Lint and types (settings in pyproject.toml).
lint: install $(TOOLS)/.installed
	$(TOOLS)/bin/ruff check .
	$(TOOLS)/bin/mypy --python-executable $(PY)

# Browser tests drive Debian's chromium: Playwright never downloads a browser.
browser:
	@test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# The scaled profile's servers, from Debian (run by us on loopback ports, not as services).
services:
	@(ls /usr/lib/postgresql/*/bin/pg_ctl && command -v redis-server && command -v nginx) >/dev/null 2>&1 \
	  || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	      postgresql redis-server nginx-light)

validate: install
	$(ENV) $(PY) -m tools.validate_data

rasa-test: install train
	$(ENV) $(RASA) test core --stories tests/test_stories.yml --fail-on-prediction-errors \
	  --model $(MODEL) --out results/rasa-test --quiet

# Intent F1 by cross-validation (2 folds to fit CI's time); report and confusion
# matrix in results/nlu/. `make nlu-report` also copies the picture into docs/.
nlu-eval: install
	$(ENV) $(RASA) test nlu --nlu data/nlu --config config.yml --cross-validation --folds 2 \
	  --out results/nlu --quiet
	$(ENV) $(PY) -m tests.extraction_eval

nlu-report: nlu-eval
	cp results/nlu/intent_confusion_matrix.png docs/nlu-intent-confusion-matrix.png

safety-report: install   ## docs/safety/traceability.md from the policy table, vignettes and tests
	$(ENV) $(PY) -m tools.safety_report

bench: install train services
	$(ENV) $(PY) -m tools.bench
	$(ENV) $(PY) -m tools.bench_scale
	$(ENV) $(PY) -m tools.bench_console
	$(ENV) $(PY) -m tools.bench_sms

clean:
	rm -rf models results var/log test-output
