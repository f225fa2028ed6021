/**
 * How the extension starts the server and what it tells it: pure functions over the
 * `infill.*` settings, so they are tested without VS Code.
 */

/** Reads one setting of the `infill` section (VS Code's WorkspaceConfiguration fits). */
export interface SettingsReader {
  get<T>(key: string): T | undefined;
}

export interface ServerLaunch {
  command: string;
  args: string[];
}

/** Settings that only shape the server's command line; a change restarts the server. */
export const LAUNCH_PREFIXES = ["server.", "model."];

/** The server's command line: `infill-lsp …` or `<python> -m infill_lsp …`, over stdio. */
export function serverLaunch(settings: SettingsReader): ServerLaunch {
  const python = (settings.get<string>("server.pythonPath") ?? "").trim();
  const command = python || (settings.get<string>("server.command") ?? "").trim() || "infill-lsp";
  const args = python ? ["-m", "infill_lsp"] : [];
  const model = (settings.get<string>("model.path") ?? "").trim();
  if (model) {
    args.push("--model", model);
  }
  const numeric: Array<[string, string, number]> = [
    ["model.gpuLayers", "--n-gpu-layers", 0],
    ["model.contextSize", "--n-ctx", 1],
    ["model.threads", "--threads", 1],
  ];
  for (const [key, flag, least] of numeric) {
    const value = settings.get<number>(key);
    if (typeof value === "number" && Number.isInteger(value) && value >= least) {
      args.push(flag, String(value));
    }
  }
  args.push(...(settings.get<string[]>("server.extraArgs") ?? []).filter((arg) => typeof arg === "string"));
  return { command, args };
}

/**
 * The server's settings (`initializationOptions` and `workspace/didChangeConfiguration`):
 * every contributed key outside the launch settings, nested as the server reads them
 * (`completion.maxTokens` → `{completion: {maxTokens}}`).
 */
export function serverSettings(settings: SettingsReader, contributedKeys: string[]): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const fullKey of contributedKeys) {
    const key = fullKey.replace(/^infill\./, "");
    if (key === fullKey || LAUNCH_PREFIXES.some((prefix) => key.startsWith(prefix))) {
      continue;
    }
    const value = settings.get<unknown>(key);
    if (value === undefined) {
      continue;
    }
    let node = result;
    const parts = key.split(".");
    for (const part of parts.slice(0, -1)) {
      node = (node[part] ??= {}) as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = value;
  }
  return result;
}

/** Whether a settings change needs a new server process (its command line changed). */
export function needsRestart(affects: (section: string) => boolean): boolean {
  return LAUNCH_PREFIXES.some((prefix) => affects(`infill.${prefix.slice(0, -1)}`));
}
