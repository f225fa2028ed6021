/**
 * Streaming ghost text over the server's `infill/partialCompletion` notifications.
 *
 * VS Code pulls inline suggestions: a provider answers once per request. To show a suggestion
 * while it is generated, the provider answers with the first partial text that arrives, and
 * when the final text extends it, remembers it and asks VS Code to re-query once; the second
 * query is answered from memory at once, so the ghost text grows without blinking and without
 * a second model call. This module holds that bookkeeping; it knows nothing of VS Code.
 */

/** Params of `infill/partialCompletion`. */
export interface PartialCompletion {
  textDocument: { uri: string; version: number | null };
  position: { line: number; character: number };
  text: string;
  sequence: number;
  done: boolean;
  /** The suggestion's id, named by its acceptance command (`infill.accepted`). */
  id?: number;
}

/** A suggestion known in the client: its text and id. */
export interface Known {
  text: string;
  id: number;
}

/** Where a request was made: document, version and cursor. */
export function spotKey(uri: string, version: number | null, line: number, character: number): string {
  return `${uri}#${version}@${line}:${character}`;
}

type Waiter = (text: string | undefined) => void;

export class Streams {
  private readonly lastSequence = new Map<string, number>();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly finished = new Map<string, Known>();
  private readonly ids = new Map<string, number>();

  /** A notification arrived. Older ones (lower sequence for the document) are dropped. */
  receive(partial: PartialCompletion): void {
    const uri = partial.textDocument.uri;
    if ((this.lastSequence.get(uri) ?? -1) >= partial.sequence) {
      return;
    }
    this.lastSequence.set(uri, partial.sequence);
    const key = spotKey(uri, partial.textDocument.version, partial.position.line, partial.position.character);
    if (partial.id) {
      this.ids.clear(); // only the newest request's id is asked for
      this.ids.set(key, partial.id);
    }
    if (partial.text || partial.done) {
      this.settle(key, partial.text || undefined);
    }
  }

  /**
   * The first non-empty text streamed for `key`; undefined if the stream ends empty or
   * `onCancel` fires first.
   */
  firstText(key: string, onCancel: (listener: () => void) => void): Promise<string | undefined> {
    return new Promise((resolve) => {
      const list = this.waiters.get(key) ?? [];
      list.push(resolve);
      this.waiters.set(key, list);
      onCancel(() => this.settle(key, undefined));
    });
  }

  /** Forget the waiters of `key` (its request finished first). */
  release(key: string): void {
    this.settle(key, undefined);
  }

  /**
   * The final text of a request answered early with `shown`: whether VS Code should re-query
   * (it extends what is shown). The text is kept for that one re-query.
   */
  finish(key: string, shown: string, final: string | undefined): boolean {
    if (!final || final === shown || !final.startsWith(shown)) {
      return false;
    }
    this.finished.clear(); // only the newest request's text is worth keeping
    this.finished.set(key, { text: final, id: this.idOf(key) });
    return true;
  }

  /** The suggestion kept by `finish` for this spot, handed out once. */
  takeFinished(key: string): Known | undefined {
    const known = this.finished.get(key);
    this.finished.delete(key);
    return known;
  }

  /** The id of the suggestion streamed for `key` (0 when none came with it). */
  idOf(key: string): number {
    return this.ids.get(key) ?? 0;
  }

  private settle(key: string, text: string | undefined): void {
    const list = this.waiters.get(key);
    if (!list) {
      return;
    }
    this.waiters.delete(key);
    for (const resolve of list) {
      resolve(text);
    }
  }
}
