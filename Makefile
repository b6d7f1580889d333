# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint lock bench scale soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# What running needs, at the versions and hashes of the lock file (requirements/base.txt); `make test` and the other
# tools add the development extras (pytest, ruff, schemathesis, Playwright, ...) from requirements/dev.txt. The
# project itself is installed without dependencies: the lock names them all.
$(VENV)/.installed: pyproject.toml requirements/base.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/base.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements/dev.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	touch $@

## lock: re-resolve requirements/*.txt from pyproject.toml's ranges (with uv), after changing a dependency
lock: | $(BIN)/python
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --upgrade -q -o requirements/base.txt
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes --upgrade -q \
		-o requirements/dev.txt

# Development settings for manage.py in this checkout, read by charp/settings.py when present (git-ignored; the
# real environment wins). Written once; delete it to get the default back. Production has none.
.env:
	printf '%s\n' '# Development settings for this checkout, written by `make run` and read by charp/settings.py.' \
		'# Git-ignored; variables set in the environment win. Never deploy with it.' 'DEBUG=true' > $@

## run: set up everything and serve on http://127.0.0.1:8000 (PORT=8001 for another port) with the embedded SQLite
## database and a demo vendor
run: $(VENV)/.installed .env
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --no-input -v0
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py bootstrapdemo --url http://$(HOST):$(PORT)
	DEBUG=$${DEBUG:-true} LOG_FORMAT=$${LOG_FORMAT:-plain} $(BIN)/python manage.py runserver $(HOST):$(PORT)

## test: the whole suite; SQLite by default, PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set
test: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache

## bench: gunicorn + PostgreSQL + Redis driven by wrk; prints req/s, p50/p99 and SQL per request (not a test)
bench: $(VENV)/.installed
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## scale: issuance and validation before and after 1,000,000 expired rows per token table, then `cleartokens`
## purging them under load, with lock and memory figures (not a test; ~8 minutes); SCALE_ARGS="--rows 100000"
scale: $(VENV)/.installed
	$(BIN)/python bench/scale.py $(SCALE_ARGS)

## soak: 5 minutes of mixed load on gunicorn + PostgreSQL + Redis, then checks nothing was lost (not a test);
## SOAK_ARGS="--seconds 60 --restart-postgres-at 20 --stop-redis-at 40" adds faults on private servers
soak: $(VENV)/.installed
	$(BIN)/python bench/soak.py $(SOAK_ARGS)
