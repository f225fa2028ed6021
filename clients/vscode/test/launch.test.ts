import assert from "node:assert/strict";
import { test } from "node:test";
import { needsRestart, serverLaunch, serverSettings } from "../src/launch";

function reader(values: Record<string, unknown>) {
  return { get: <T>(key: string) => values[key] as T | undefined };
}

test("the default launch is infill-lsp with no arguments", () => {
  assert.deepEqual(serverLaunch(reader({ "server.command": "infill-lsp", "model.gpuLayers": -1, "model.contextSize": 0 })),
    { command: "infill-lsp", args: [] });
});

test("a Python interpreter runs the module, with the model options as flags", () => {
  const launch = serverLaunch(reader({
    "server.pythonPath": " /venv/bin/python ", "server.command": "ignored", "model.path": "/models/code.gguf",
    "model.gpuLayers": 0, "model.contextSize": 16384, "model.threads": 4, "server.extraArgs": ["--log-file", "/tmp/l"],
  }));
  assert.deepEqual(launch, {
    command: "/venv/bin/python",
    args: ["-m", "infill_lsp", "--model", "/models/code.gguf", "--n-gpu-layers", "0", "--n-ctx", "16384",
      "--threads", "4", "--log-file", "/tmp/l"],
  });
});

test("out-of-range numbers are left to the server's defaults", () => {
  const launch = serverLaunch(reader({ "model.gpuLayers": -1, "model.contextSize": 0, "model.threads": 1.5 }));
  assert.deepEqual(launch.args, []);
});

test("server settings are nested and launch settings are left out", () => {
  const keys = ["infill.completion.maxTokens", "infill.completion.enabled", "infill.context.exclude",
    "infill.streaming", "infill.server.command", "infill.model.path"];
  const settings = serverSettings(reader({
    "completion.maxTokens": 64, "completion.enabled": false, "context.exclude": ["*.lock"], streaming: true,
    "server.command": "x", "model.path": "y",
  }), keys);
  assert.deepEqual(settings, {
    completion: { maxTokens: 64, enabled: false }, context: { exclude: ["*.lock"] }, streaming: true,
  });
});

test("only launch settings restart the server", () => {
  assert.equal(needsRestart((section) => section === "infill.model"), true);
  assert.equal(needsRestart((section) => section === "infill.server"), true);
  assert.equal(needsRestart((section) => section === "infill.completion"), false);
});
