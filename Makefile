# The two commands a newcomer needs: `make demo` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export KYC_HOME ?= $(CURDIR)/.kyc
export DAGSTER_HOME ?= $(KYC_HOME)/dagster_home
# Tesseract is ~5x faster single-threaded on small machines (measured on 2 cores).
export OMP_THREAD_LIMIT ?= 1

.PHONY: demo test dev bench worker install tesseract icu ocrb-font chromium clean

# What every target needs; the test suite also needs Chromium (browser test of the dashboard).
install: $(VENV)/.installed tesseract ocrb-font $(DAGSTER_HOME)/dagster.yaml

$(VENV)/.installed: pyproject.toml | icu
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

tesseract:
	@if ! command -v tesseract >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q tesseract-ocr; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -q && sudo apt-get install -y -q tesseract-ocr; \
	  else echo "error: Tesseract OCR is missing; install it with: sudo apt-get install tesseract-ocr" >&2; exit 1; fi; \
	fi

# PyICU (pulled in by rigour/normality for screening transliteration) has no wheels: pip builds it
# against the system ICU, which needs libicu-dev, pkg-config and a C++ compiler.
icu:
	@if ! pkg-config --exists icu-i18n 2>/dev/null || ! command -v g++ >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q libicu-dev pkg-config g++; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -q && sudo apt-get install -y -q libicu-dev pkg-config g++; \
	  else echo "error: ICU headers are missing (PyICU builds against them); install them with: sudo apt-get install libicu-dev pkg-config g++" >&2; exit 1; fi; \
	fi

# Debian's OCR-B typeface: the held-out document specimens (tests, bench) print their MRZ in it; not shipped.
ocrb-font:
	@if [ ! -f /usr/share/fonts/opentype/ocr-b/OCRB.otf ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q fonts-ocr-b; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -q && sudo apt-get install -y -q fonts-ocr-b; \
	  else echo "error: the OCR-B font is missing; install it with: sudo apt-get install fonts-ocr-b" >&2; exit 1; fi; \
	fi

# Debian's Chromium for the dashboard's browser test (Playwright drives /usr/bin/chromium; no browser download).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -q && sudo apt-get install -y -q chromium; \
	  else echo "error: Chromium is missing (the browser test needs it); install it with: sudo apt-get install chromium" >&2; exit 1; fi; \
	fi

$(DAGSTER_HOME)/dagster.yaml: kyc_assets/deploy/dagster_local.yaml
	mkdir -p $(DAGSTER_HOME)
	cp $< $@

demo: install
	$(BIN)/python -m kyc_assets.demo

test: install chromium
	$(BIN)/python -m pytest -q -n 2 kyc_assets_tests

dev: install
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

bench: install
	$(BIN)/python -m kyc_assets_tests.bench

# A Celery worker for KYC_EXECUTOR=celery deployments (README "Deploying"): needs KYC_CELERY_BROKER_URL and
# the deployment's shared storage settings; QUEUES narrows it (e.g. make worker QUEUES=ocr).
QUEUES ?= dagster,ocr,screening,monitoring
worker: install
	$(BIN)/kyc worker --queues $(QUEUES)

clean:
	rm -rf $(KYC_HOME)
