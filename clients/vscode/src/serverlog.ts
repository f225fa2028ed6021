/**
 * The server's log lines in the Infill output channel at their own level. The server writes its
 * log to stderr (`2026-11-30 08:38:34,725 INFO infill_lsp.cli: message`); the language client
 * would show every such line as an error.
 */

export type LogLevel = "error" | "warn" | "info" | "debug";

export interface ServerLogLine {
  level: LogLevel;
  /** The line without the server's timestamp: the channel adds its own. */
  text: string;
}

const LEVELS: Record<string, LogLevel> = {
  CRITICAL: "error", ERROR: "error", WARNING: "warn", INFO: "info", DEBUG: "debug",
};
const LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ([A-Z]+) (.*)$/;

/** One stderr line of the server; anything not in its log format (a crash's traceback) is an error. */
export function serverLogLine(line: string): ServerLogLine {
  const found = LINE.exec(line);
  const level = found ? LEVELS[found[1]] : undefined;
  return level && found ? { level, text: found[2] } : { level: "error", text: line };
}
