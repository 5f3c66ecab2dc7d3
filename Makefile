# Quick start: `make demo` (set up, fetch CIFAR-10, train) and `make test` (every unit-test suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(CURDIR)/$(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test data clean

# The pinned numpy and torch need Python 3.11 or newer: say so before pip fails on them (macOS's python3 is 3.9).
$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(None if sys.version_info >= (3, 11) else "make: $(PYTHON) is Python %d.%d; the kit needs 3.11 or newer: make PYTHON=python3.11 ..." % sys.version_info[:2])'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

data: $(STAMP)
	sh part1-convnet/data/get_data.sh
	sh part2-pytorch/data/get_data.sh

demo: data
	cd part1-convnet && "$(PY)" train.py
	cd part2-pytorch && "$(PY)" main.py --config configs/config_twolayer.yaml --save-best false

# Real-data tests run when the data is present; CI (or anyone) with a local archive gets it unpacked first.
test: $(STAMP)
	@if [ -n "$$CIFAR10_ARCHIVE" ]; then $(MAKE) --no-print-directory data; fi
	cd part1-convnet && "$(PY)" -m unittest
	cd part2-pytorch && "$(PY)" -m unittest
	cd theory && "$(PY)" -m unittest

clean:
	rm -rf $(VENV)
