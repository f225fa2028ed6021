import assert from "node:assert/strict";
import { test } from "node:test";
import { serverLogLine } from "../src/serverlog";

test("the server's log lines keep their level and lose their timestamp", () => {
  assert.deepEqual(serverLogLine("2026-11-30 08:38:34,725 INFO infill_lsp.cli: infill 0.1.0 starting (stdio)"),
    { level: "info", text: "infill_lsp.cli: infill 0.1.0 starting (stdio)" });
  assert.deepEqual(serverLogLine("2026-11-30 08:46:21,371 ERROR infill_lsp.inference: Infill could not load the model"),
    { level: "error", text: "infill_lsp.inference: Infill could not load the model" });
  assert.equal(serverLogLine("2026-11-30 08:46:21,371 WARNING infill_lsp.framing: bytes lost").level, "warn");
  assert.equal(serverLogLine("2026-11-30 08:46:21,371 DEBUG infill_lsp.engine: decode").level, "debug");
});

test("anything else on stderr, such as a traceback, is an error as it is", () => {
  assert.deepEqual(serverLogLine("Traceback (most recent call last):"),
    { level: "error", text: "Traceback (most recent call last):" });
  assert.equal(serverLogLine("2026-11-30 08:46:21,371 NOTICE something").level, "error");
});
