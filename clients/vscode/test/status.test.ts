import assert from "node:assert/strict";
import { test } from "node:test";
import { ClientState, ServerStatus, statusView } from "../src/status";

const ready: ServerStatus = {
  loaded: true, enabled: true, model: "/m/SmolLM2.gguf", mode: "prefix-only", modeReason: "no FIM tokens",
  indexedFiles: 12, indexing: false, error: null,
};

function view(state: Partial<ClientState>) {
  return statusView({ phase: "running", generating: 0, server: ready, ...state });
}

test("ready shows the model and mode in the tooltip", () => {
  const shown = view({});
  assert.equal(shown.text, "$(sparkle) Infill");
  assert.match(shown.tooltip, /ready\nSmolLM2.gguf, prefix-only \(no FIM tokens\)\n12 files indexed/);
  assert.equal(shown.error, false);
});

test("starting, loading, generating and indexing each have their own look", () => {
  assert.equal(view({ phase: "starting", server: undefined }).text, "$(loading~spin) Infill");
  assert.match(view({ server: { ...ready, loaded: false } }).tooltip, /loading the model/);
  assert.equal(view({ generating: 1 }).text, "$(sync~spin) Infill");
  assert.equal(view({ server: { ...ready, indexing: true, indexedFiles: 40 } }).text, "$(database) Infill 40");
});

test("a model on an inference server names the server; its failure is an error", () => {
  const remote = { ...ready, engine: "https://llm.example.com" };
  assert.match(view({ server: remote }).tooltip, /SmolLM2.gguf on https:\/\/llm.example.com, prefix-only/);
  const down = view({ server: { ...remote, error: "https://llm.example.com is unreachable (Connection refused)" } });
  assert.equal(down.error, true);
  assert.match(down.tooltip, /unreachable/);
});

test("errors say why and are marked as errors", () => {
  const failed = view({ server: { ...ready, loaded: false, error: "model file not found: /x.gguf" } });
  assert.equal(failed.error, true);
  assert.match(failed.tooltip, /model file not found: \/x.gguf\nClick to show the log/);
  const crashed = view({ failure: "the server did not start (infill-lsp): ENOENT" });
  assert.equal(crashed.error, true);
  assert.match(crashed.tooltip, /ENOENT/);
  assert.equal(view({ phase: "stopped" }).error, true);
});

test("completions switched off, globally or for the language, show as off", () => {
  assert.match(view({ server: { ...ready, enabled: false } }).tooltip, /completions are off\n/);
  const language = view({ languageDisabled: true });
  assert.equal(language.text, "$(circle-slash) Infill");
  assert.match(language.tooltip, /off for this language/);
});
