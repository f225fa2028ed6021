/**
 * "Infill: Choose Model…": the catalog as `infill-lsp models --json` prints it, turned into
 * quick-pick items, and the command lines for listing and pulling. Pure functions, tested
 * without VS Code; the extension runs the commands and writes `infill.model.path`.
 */

import { ServerLaunch } from "./launch";

/** One catalog entry of `infill-lsp models --json`. */
export interface CatalogModel {
  name: string;
  parametersB: number;
  sizeBytes: number;
  fim: string | null;
  hardware: string;
  downloaded: string | null;
  fitsMemory: boolean;
}

export interface ModelPick {
  label: string;
  description: string;
  detail: string;
  name: string;
  downloaded: boolean;
}

/** The server's executable with a catalog subcommand (`models --json`, `pull NAME`) after its flags. */
export function catalogCommand(launch: ServerLaunch, subcommand: string[]): ServerLaunch {
  return { command: launch.command, args: [...launch.args, ...subcommand] };
}

/** Quick-pick items: downloaded models first, then those that fit this machine, smallest first. */
export function modelPicks(modelsJson: string, current: string): ModelPick[] {
  const models = (JSON.parse(modelsJson) as { models: CatalogModel[] }).models;
  const rank = (model: CatalogModel) => (model.downloaded ? 0 : model.fitsMemory ? 1 : 2);
  return [...models]
    .sort((a, b) => rank(a) - rank(b) || a.sizeBytes - b.sizeBytes)
    .map((model) => {
      const facts = [
        `${(model.sizeBytes / 2 ** 30).toFixed(1)} GB`,
        model.fim ? `FIM ${model.fim.toUpperCase()}` : "no FIM (prefix-only)",
        model.downloaded ? "downloaded" : "",
        model.name === current ? "in use" : "",
      ].filter(Boolean);
      const fit = model.fitsMemory ? "" : " · larger than this machine's memory allows";
      return { label: model.name, description: facts.join(" · "), detail: `Suits ${model.hardware}${fit}`,
        name: model.name, downloaded: model.downloaded !== null };
    });
}

/** The last progress line `pull` wrote (its bar redraws with carriage returns), for the notification. */
export function lastProgressLine(stderr: string): string {
  const lines = stderr.split(/[\r\n]+/).map((line) => line.trim()).filter(Boolean);
  return lines.length ? lines[lines.length - 1] : "";
}
