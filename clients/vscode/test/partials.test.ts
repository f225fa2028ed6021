import assert from "node:assert/strict";
import { test } from "node:test";
import { PartialCompletion, Streams, spotKey } from "../src/partials";

const URI = "file:///w/app.py";
const KEY = spotKey(URI, 3, 4, 11);

function partial(text: string, sequence: number, done = false, version = 3, id = 0): PartialCompletion {
  return { textDocument: { uri: URI, version }, position: { line: 4, character: 11 }, text, sequence, done, id };
}

const never = () => undefined;

test("the first streamed text answers the waiting request", async () => {
  const streams = new Streams();
  const first = streams.firstText(KEY, never);
  streams.receive(partial("", 1));
  streams.receive(partial("return fib", 2));
  streams.receive(partial("return fib(n - 1)", 3));
  assert.equal(await first, "return fib");
});

test("older notifications and other versions are ignored", async () => {
  const streams = new Streams();
  streams.receive(partial("late", 9, false, 2));
  const first = streams.firstText(KEY, never);
  streams.receive(partial("stale", 5));
  streams.receive(partial("fresh", 10));
  assert.equal(await first, "fresh");
});

test("a stream that ends empty, or a cancelled request, resolves with nothing", async () => {
  const streams = new Streams();
  const ended = streams.firstText(KEY, never);
  streams.receive(partial("", 1, true));
  assert.equal(await ended, undefined);
  let cancel: () => void = () => undefined;
  const cancelled = streams.firstText(KEY, (listener) => { cancel = listener; });
  cancel();
  assert.equal(await cancelled, undefined);
});

test("a final text that extends the shown one is kept, with its id, for exactly one re-query", () => {
  const streams = new Streams();
  streams.receive(partial("return fib", 1, false, 3, 17));
  assert.equal(streams.idOf(KEY), 17);
  assert.equal(streams.finish(KEY, "return fib", "return fib(n - 1) + fib(n - 2)"), true);
  assert.deepEqual(streams.takeFinished(KEY), { text: "return fib(n - 1) + fib(n - 2)", id: 17 });
  assert.equal(streams.takeFinished(KEY), undefined);
});

test("no re-query when the final text adds nothing or disagrees", () => {
  const streams = new Streams();
  assert.equal(streams.finish(KEY, "return fib", "return fib"), false);
  assert.equal(streams.finish(KEY, "return fib", "print(x)"), false);
  assert.equal(streams.finish(KEY, "return fib", undefined), false);
  assert.equal(streams.takeFinished(KEY), undefined);
});
