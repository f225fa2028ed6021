import assert from "node:assert/strict";
import { test } from "node:test";
import { Host, locateCommand, needsRestart, serverLaunch, serverSettings } from "../src/launch";

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

function host(executables: string[], env: Record<string, string>, platform = "linux"): Host {
  return { env, home: platform === "win32" ? "C:\\Users\\ada" : "/home/ada", platform, isExecutable: (file) => executables.includes(file) };
}

test("the server is found on PATH first", () => {
  const found = locateCommand("infill-lsp",
    host(["/usr/bin/infill-lsp", "/home/ada/.local/bin/infill-lsp"], { PATH: "/bin:/usr/bin" }));
  assert.equal(found, "/usr/bin/infill-lsp");
});

test("a pipx or uv install outside VS Code's PATH is found where they put tools", () => {
  assert.equal(locateCommand("infill-lsp", host(["/home/ada/.local/bin/infill-lsp"], { PATH: "/usr/bin" })),
    "/home/ada/.local/bin/infill-lsp");
  assert.equal(locateCommand("infill-lsp", host(["/opt/tools/infill-lsp"], { PATH: "/usr/bin", PIPX_BIN_DIR: "/opt/tools" })),
    "/opt/tools/infill-lsp");
  assert.equal(locateCommand("infill-lsp", host(["/srv/uv/infill-lsp"], { PATH: "", UV_TOOL_BIN_DIR: "/srv/uv" })),
    "/srv/uv/infill-lsp");
});

test("a path is taken as given, and nothing found is undefined", () => {
  assert.equal(locateCommand("/venv/bin/python", host(["/venv/bin/python"], { PATH: "/usr/bin" })), "/venv/bin/python");
  assert.equal(locateCommand("/venv/bin/python", host([], { PATH: "/venv/bin" })), undefined);
  assert.equal(locateCommand("infill-lsp", host([], { PATH: "/usr/bin" })), undefined);
});

test("on Windows the executable's extension is added", () => {
  const found = locateCommand("infill-lsp",
    host(["C:\\Users\\ada\\.local\\bin\\infill-lsp.exe"], { Path: "C:\\Windows" }, "win32"));
  assert.equal(found, "C:\\Users\\ada\\.local\\bin\\infill-lsp.exe");
});
