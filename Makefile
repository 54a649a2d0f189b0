# engram: `make demo` sets up and runs the main job offline; `make test` sets up and runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.engram-installed

.PHONY: setup demo test bench lint clean

# torch is pinned to its CPU build by constraints.txt, so no CUDA packages are pulled.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# pip byte-compiles on one core; compileall on both is a minute faster (4.3 -> 3.2 min here). The
	# byte-code must be written now: this machine sets PYTHONDONTWRITEBYTECODE=1, so imports never cache
	# it. A few files in packages target newer Pythons and fail to compile, which pip ignores too.
	$(BIN)/pip install --quiet --no-compile -c constraints.txt -e '.[dev]'
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	# Export MiniLM to ONNX once, so no engram process has to load torch to embed.
	HF_HUB_OFFLINE=1 $(BIN)/python -c "from engram.store import export_onnx_model; export_onnx_model()"
	touch $(STAMP)

setup: $(STAMP)

# The main job, offline: memories into Chroma, gradient-optimized support prompt, gate,
# MLflow v1 -> v2 @production, export, summary table. Re-running resumes from the checkpoint.
# With ENGRAM_LM naming a real model whose API key is not set, it stops at once naming the variable.
demo: setup
	$(BIN)/engram datasets validate datasets/support.jsonl datasets/oasst_feedback.jsonl
	$(BIN)/engram run experiments/quickstart.yaml

# The linter and the type checker first (config in pyproject.toml; seconds), then pytest on
# TEST_WORKERS processes (pytest-xdist). Each worker takes whole test files (--dist loadfile), so a
# file's module- and session-scoped servers start once per worker, not once per test.
TEST_WORKERS ?= 2
test: setup
	$(BIN)/ruff check engram tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: setup
	$(BIN)/python benchmarks/startup.py

lint: setup
	$(BIN)/ruff check engram tests benchmarks

clean:
	rm -rf $(VENV) .engram .pytest_cache
