/**
 * Warming before the first keystroke: when an editor becomes active or its cursor comes to rest,
 * the server is told (`infill/warm`) so that it evaluates the prompt there in the background and
 * the first keystroke finds it cached. Only the latest spot is sent, once it has rested.
 */

export interface Spot {
  uri: string;
  line: number;
  character: number;
}

export const REST_MS = 300;

/** Sends `send(spot)` once no newer spot came for `restMs`; the same spot is not sent twice in a row. */
export class RestingCursor {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastSent: string | undefined;

  constructor(
    private readonly send: (spot: Spot) => void,
    private readonly restMs: number = REST_MS,
  ) {}

  moved(spot: Spot): void {
    this.cancel();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const key = `${spot.uri}:${spot.line}:${spot.character}`;
      if (key !== this.lastSent) {
        this.lastSent = key;
        this.send(spot);
      }
    }, this.restMs);
  }

  /** The user typed: the completion request itself evaluates the prompt. */
  typed(): void {
    this.cancel();
    this.lastSent = undefined;
  }

  cancel(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
