import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";
import { RestingCursor, Spot } from "../src/warm";

const spot = (line: number, character: number): Spot => ({ uri: "file:///w/app.py", line, character });

beforeEach(() => mock.timers.enable({ apis: ["setTimeout"] }));
afterEach(() => mock.timers.reset());

test("only the spot where the cursor rests is sent, once", () => {
  const sent: Spot[] = [];
  const cursor = new RestingCursor((s) => sent.push(s), 300);
  cursor.moved(spot(1, 0));
  mock.timers.tick(100);
  cursor.moved(spot(2, 4)); // the user is still moving
  mock.timers.tick(299);
  assert.deepEqual(sent, []);
  mock.timers.tick(1);
  assert.deepEqual(sent, [spot(2, 4)]);
  cursor.moved(spot(2, 4)); // the same spot again (focus came back): already warm
  mock.timers.tick(300);
  assert.deepEqual(sent, [spot(2, 4)]);
});

test("typing cancels a pending warm-up and lets the spot be warmed again later", () => {
  const sent: Spot[] = [];
  const cursor = new RestingCursor((s) => sent.push(s), 300);
  cursor.moved(spot(3, 1));
  mock.timers.tick(300);
  cursor.moved(spot(3, 2));
  cursor.typed();
  mock.timers.tick(1000);
  assert.deepEqual(sent, [spot(3, 1)]);
  cursor.moved(spot(3, 1));
  mock.timers.tick(300);
  assert.deepEqual(sent, [spot(3, 1), spot(3, 1)]);
});
