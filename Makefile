# keyguard: the two commands a new machine needs are `make demo` and `make test`.
# Both install what they need (pinned, from tools/requirements.txt) into .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
STAMP := $(VENV)/.installed-$(shell sha256sum tools/requirements.txt | cut -c1-12)

.PHONY: help venv test lint unit demo bench clean

help:
	@echo "make demo   run keyguard's story locally (moto + the real binaries under the Lambda emulator)"
	@echo "make test   fmt, clippy, every unit and integration test, and the demo's checks"
	@echo "make bench  keyguard's figures beside a baseline's, one markdown table (several minutes)"

$(STAMP): tools/requirements.txt
	rm -f $(VENV)/.installed-*
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r tools/requirements.txt
	touch $@

venv: $(STAMP)

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# One workspace build; tests share target/ with clippy and the demo.
unit: venv
	cargo test --workspace

test: venv lint unit
	tools/demo.sh --quiet

demo: venv
	cargo build --workspace
	tools/demo.sh

# Figures, never assertions: printed as one markdown table.
bench: venv
	cargo build --workspace
	target/debug/keyguard-bench

clean:
	rm -rf $(VENV) target
