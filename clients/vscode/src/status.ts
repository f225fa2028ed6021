/**
 * What the status bar item says: a pure view of the server's state, so every state is
 * tested without VS Code.
 */

/** The `infill/status` answer (see the server's `lsp_server/extensions.py`). */
export interface ServerStatus {
  version?: string;
  model?: string | null;
  loaded: boolean;
  error?: string | null;
  mode?: string | null;
  modeReason?: string | null;
  /** Where the model runs: "in-process", or the inference server's origin. */
  engine?: string | null;
  enabled: boolean;
  indexedFiles?: number;
  indexing?: boolean;
}

export interface ClientState {
  /** The language client's own state. */
  phase: "starting" | "running" | "stopped";
  /** The last status the server gave, if any. */
  server?: ServerStatus;
  /** Completion requests in flight. */
  generating: number;
  /** Why the client could not start or lost the server. */
  failure?: string;
  /** Completions switched off for the active editor's language. */
  languageDisabled?: boolean;
}

export interface StatusView {
  text: string;
  tooltip: string;
  error: boolean;
}

function basename(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

export function statusView(state: ClientState): StatusView {
  const server = state.server;
  if (state.failure) {
    return { text: "$(error) Infill", tooltip: `Infill: ${state.failure}\nClick to show the log.`, error: true };
  }
  if (state.phase === "stopped") {
    return { text: "$(debug-stop) Infill", tooltip: "Infill: the server is not running.\nClick to show the log.", error: true };
  }
  if (state.phase === "starting" || server === undefined) {
    return { text: "$(loading~spin) Infill", tooltip: "Infill: starting the server…", error: false };
  }
  if (server.error) {
    return { text: "$(error) Infill", tooltip: `Infill: ${server.error}\nClick to show the log.`, error: true };
  }
  if (!server.loaded) {
    return { text: "$(loading~spin) Infill", tooltip: "Infill: loading the model…", error: false };
  }
  const model = server.model ? basename(server.model) : "model";
  const remote = server.engine && server.engine !== "in-process" ? ` on ${server.engine}` : "";
  const details = `${model}${remote}, ${server.mode ?? "?"}${server.modeReason ? ` (${server.modeReason})` : ""}`;
  if (!server.enabled || state.languageDisabled) {
    const where = server.enabled ? "for this language" : "";
    return { text: "$(circle-slash) Infill", tooltip: `Infill: completions are off ${where}\n${details}`.replace(/ +\n/, "\n"), error: false };
  }
  if (state.generating > 0) {
    return { text: "$(sync~spin) Infill", tooltip: `Infill: generating…\n${details}`, error: false };
  }
  if (server.indexing) {
    return {
      text: `$(database) Infill ${server.indexedFiles ?? 0}`,
      tooltip: `Infill: indexing the workspace (${server.indexedFiles ?? 0} files so far)\n${details}`,
      error: false,
    };
  }
  return { text: "$(sparkle) Infill", tooltip: `Infill: ready\n${details}\n${server.indexedFiles ?? 0} files indexed`, error: false };
}
