# The README's two commands:  `make repro`  and  `make test`.  Both set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= $(or $(XMR_DATA),../shared/data)

export DVC_NO_ANALYTICS := 1
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup repro ablations compare dmsfh report test clean-scratch

# A virtual environment with pinned versions. torch is installed first, on its own, so that the
# CPU wheel is chosen and torchvision's `torch==2.13.0` requirement is already met.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $@

setup: $(BIN)/.installed

# The embedded default always; the Wikipedia experiments too when its data is present. Of the
# mgmm Table 6 rows only the full model (cfm) on scenes runs here, of msdmml's Tables 1-2 the
# full model, of uncsm's Tables 5-6 the full model on Wikipedia, of idcmr's loss ablation and
# vectorisation comparison the full model; `make ablations` runs every row (and msdmml's pixel
# path, uncsm on scenes, idcmr's word-pair study, and dmsfh's stages), keeping `make repro` under
# 15 minutes on 2 CPUs. dmsfh left it when its 64-bit Wikipedia model took the run to 15 min 7 s,
# and mgmm's full model on Wikipedia (mgmm_wikipedia_cfm, 125-135 s of training) when the run
# reached 16 min 26 s; both run with `make ablations`.
MAIN := 'evaluate@scenes_*' 'evaluate@mgmm_scenes_cfm' 'evaluate@msdmml_scenes' \
        'evaluate@idcmr_scenes'
WIKI := 'evaluate@wikipedia_*' 'evaluate@msdmml_wikipedia' 'evaluate@msdmml_wikipedia_tuned' \
        'evaluate@uncsm_wikipedia' 'evaluate@idcmr_wikipedia'

repro: setup
	@if [ -d "$(DATA)/wikipedia" ]; then \
		$(BIN)/dvc repro --glob $(MAIN) $(WIKI); \
	else \
		echo "No Wikipedia data at $(DATA)/wikipedia: running the embedded default (scenes) only."; \
		$(BIN)/dvc repro --glob $(MAIN); \
	fi

# Every stage of dvc.yaml: the main experiments and all ablation rows (mgmm Table 6, msdmml
# Tables 1-2, its pixel path and the frozen-backbone comparison, uncsm Tables 5-6, idcmr's loss
# ablation, vectorisation comparison and word-pair study, dmsfh's tables).
ablations: setup
	@if [ -d "$(DATA)/wikipedia" ] && [ -d "$(DATA)/mirflickr25k" ]; then \
		$(BIN)/dvc repro; \
	elif [ -d "$(DATA)/wikipedia" ]; then \
		$(BIN)/dvc repro --glob 'evaluate@scenes_*' 'evaluate@wikipedia_*' 'evaluate@mgmm_*' \
			'evaluate@msdmml_*' 'evaluate@uncsm_*' 'evaluate@idcmr_*' 'evaluate@dmsfh_scenes_*' \
			'evaluate@dmsfh_wikipedia_*' 'vectorisation@*'; \
	else \
		$(BIN)/dvc repro --glob 'evaluate@scenes_*' 'evaluate@mgmm_scenes_*' \
			'evaluate@msdmml_scenes*' 'evaluate@uncsm_scenes*' 'evaluate@idcmr_scenes*' \
			'vectorisation@scenes' 'evaluate@dmsfh_scenes_*'; \
	fi

# The comparison methods (issue 15, specs/compare/): every compare_* stage for the datasets present
# (and the baselines its tables cite, dmsfh's rows of the hashing tables among them), then the
# tables of specs/compare/tables/ from the stored metrics.
COMPARE_TABLES := $(wildcard specs/compare/tables/*.yaml)
compare: setup
	@if [ -d "$(DATA)/wikipedia" ]; then \
		$(BIN)/dvc repro --glob 'evaluate@compare_*' 'evaluate@wikipedia_*' 'evaluate@scenes_cca' \
			'evaluate@scenes_deep' 'evaluate@msdmml_wikipedia' 'evaluate@uncsm_wikipedia' \
			'evaluate@dmsfh_wikipedia_16' 'evaluate@dmsfh_wikipedia_32' 'evaluate@dmsfh_wikipedia_64' \
			'evaluate@dmsfh_scenes_32'; \
		for t in $(COMPARE_TABLES); do $(BIN)/xmr table $$t; echo; done; \
	else \
		$(BIN)/dvc repro --glob 'evaluate@compare_scenes_*' 'evaluate@scenes_cca' 'evaluate@scenes_deep' \
			'evaluate@dmsfh_scenes_32'; \
		for t in $(wildcard specs/compare/tables/scenes*.yaml); do $(BIN)/xmr table $$t; echo; done; \
	fi

# The reports of the main experiments (xmr report; store/reports/<dataset>/index.html), after
# the stages they read.
report: setup
	@if [ -d "$(DATA)/wikipedia" ]; then \
		$(BIN)/dvc repro report_scenes report_wikipedia; \
	else \
		$(BIN)/dvc repro report_scenes; \
	fi

# dmsfh's stages only: the code-length series and Table 6 on scenes (and Wikipedia), and the
# text network on the real MIRFLICKR-25K tags, for the datasets present.
dmsfh: setup
	@globs="'evaluate@dmsfh_scenes_*'"; \
	if [ -d "$(DATA)/wikipedia" ]; then globs="$$globs 'evaluate@dmsfh_wikipedia_*'"; fi; \
	if [ -d "$(DATA)/mirflickr25k" ]; then globs="$$globs 'evaluate@dmsfh_mirflickr25k_*'"; fi; \
	eval $(BIN)/dvc repro --glob $$globs

test: setup
	$(BIN)/python -m pytest -q

clean-scratch:
	rm -rf store/scratch
