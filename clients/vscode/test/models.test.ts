import assert from "node:assert/strict";
import { test } from "node:test";
import { catalogCommand, lastProgressLine, modelPicks } from "../src/models";

const listed = JSON.stringify({
  memoryBytes: 8 * 2 ** 30, gpuOffload: false,
  models: [
    { name: "qwen2.5-coder-7b", parametersB: 7.6, sizeBytes: 8.1e9, fim: "psm", hardware: "a GPU with 16 GB",
      downloaded: null, fitsMemory: false },
    { name: "qwen2.5-coder-1.5b", parametersB: 1.5, sizeBytes: 1.6e9, fim: "psm", hardware: "CPU",
      downloaded: null, fitsMemory: true },
    { name: "codellama-7b-python", parametersB: 6.7, sizeBytes: 4.1e9, fim: null, hardware: "a GPU with 8 GB",
      downloaded: "/hf/codellama-7b-python.Q4_K_M.gguf", fitsMemory: true },
  ],
});

test("downloaded models come first, then those that fit, smallest first", () => {
  const picks = modelPicks(listed, "codellama-7b-python");
  assert.deepEqual(picks.map((pick) => pick.label), ["codellama-7b-python", "qwen2.5-coder-1.5b", "qwen2.5-coder-7b"]);
  assert.equal(picks[0].description, "3.8 GB · no FIM (prefix-only) · downloaded · in use");
  assert.equal(picks[0].downloaded, true);
  assert.equal(picks[1].description, "1.5 GB · FIM PSM");
  assert.match(picks[2].detail, /larger than this machine's memory/);
});

test("catalog commands go after the server's own flags", () => {
  const launch = { command: "/venv/bin/python", args: ["-m", "infill_lsp", "--model", "x.gguf"] };
  assert.deepEqual(catalogCommand(launch, ["pull", "qwen2.5-coder-1.5b"]),
    { command: "/venv/bin/python", args: ["-m", "infill_lsp", "--model", "x.gguf", "pull", "qwen2.5-coder-1.5b"] });
});

test("the progress shown is the bar's last redraw", () => {
  assert.equal(lastProgressLine("tiny.gguf:  10%|█  | 1.0M/10M\rtiny.gguf:  55%|█████ | 5.5M/10M\r"),
    "tiny.gguf:  55%|█████ | 5.5M/10M");
  assert.equal(lastProgressLine(""), "");
});
