/**
 * The VS Code side of Infill: starts `infill-lsp` over stdio and lets vscode-languageclient
 * turn `textDocument/inlineCompletion` into ghost text. On top of that: per-language switch,
 * streamed partial suggestions, a status bar item, and five commands.
 */

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as readline from "node:readline";
import * as vscode from "vscode";
import {
  ClientCapabilities,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  StaticFeature,
  TransportKind,
} from "vscode-languageclient/node";
import { Host, INSTALL_COMMANDS, ServerLaunch, locateCommand, needsRestart, serverLaunch, serverSettings } from "./launch";
import { catalogCommand, lastProgressLine, modelPicks } from "./models";
import { Known, PartialCompletion, Streams, spotKey } from "./partials";
import { serverLogLine } from "./serverlog";
import { ClientState, ServerStatus, statusView } from "./status";
import { RestingCursor } from "./warm";

const SECTION = "infill";
const STATUS_POLL_BUSY_MS = 1000;
const STATUS_POLL_IDLE_MS = 15000;

/**
 * An inline item for a streamed suggestion, with the command the server puts on its own items:
 * VS Code runs it when the user accepts the item, and the server counts the acceptance.
 */
function acceptable(known: Known, position: vscode.Position): vscode.InlineCompletionItem {
  const item = new vscode.InlineCompletionItem(known.text, new vscode.Range(position, position));
  if (known.id) {
    item.command = { title: "Infill: suggestion accepted", command: "infill.accepted",
      arguments: [{ id: known.id, chars: known.text.length }] };
  }
  return item;
}

type Suggestions = vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined;
type ProvideInlineCompletionItems = (
  document: vscode.TextDocument,
  position: vscode.Position,
  context: vscode.InlineCompletionContext,
  token: vscode.CancellationToken,
) => vscode.ProviderResult<vscode.InlineCompletionItem[] | vscode.InlineCompletionList>;

/** Opts in to the server's streaming extension (`experimental.infill.partialCompletion`). */
const streamingCapability: StaticFeature = {
  fillClientCapabilities(capabilities: ClientCapabilities): void {
    const experimental = (capabilities.experimental ?? {}) as Record<string, unknown>;
    capabilities.experimental = { ...experimental, infill: { partialCompletion: true } };
  },
  initialize(): void {},
  getState: () => ({ kind: "static" }),
  clear(): void {},
};

class Infill implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly output = vscode.window.createOutputChannel("Infill", { log: true });
  private readonly statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  private readonly streams = new Streams();
  private readonly state: ClientState = { phase: "starting", generating: 0 };
  private statusTimer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly cursor = new RestingCursor((spot) => {
    if (this.state.phase === "running") {
      void this.client?.sendNotification("infill/warm", {
        textDocument: { uri: spot.uri },
        position: { line: spot.line, character: spot.character },
      });
    }
  });

  constructor(private readonly context: vscode.ExtensionContext) {
    this.statusItem.command = "infill.showLog";
    this.statusItem.name = "Infill";
    this.render();
    this.statusItem.show();
    const commands: Array<[string, () => unknown]> = [
      ["infill.toggle", () => this.toggle()],
      ["infill.showLog", () => this.output.show(true)],
      ["infill.restart", () => this.restart()],
      ["infill.whyNoCompletion", () => this.whyNoCompletion()],
      ["infill.chooseModel", () => this.chooseModel()],
    ];
    for (const [name, run] of commands) {
      this.disposables.push(vscode.commands.registerCommand(name, run));
    }
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((event) => this.onSettingsChanged(event)),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        this.render();
        this.cursorRests(editor);
      }),
      vscode.window.onDidChangeTextEditorSelection((event) => {
        if (event.kind === vscode.TextEditorSelectionChangeKind.Command) {
          return; // typing, an accepted suggestion: the completion request evaluates the prompt
        }
        this.cursorRests(event.textEditor);
      }),
      vscode.workspace.onDidChangeTextDocument(() => this.cursor.typed()),
      { dispose: () => this.cursor.cancel() },
    );
  }

  /** An editor became active or its cursor moved: warm the prompt there once it rests. */
  private cursorRests(editor: vscode.TextEditor | undefined): void {
    if (!editor || !editor.selection.isEmpty || !["file", "untitled"].includes(editor.document.uri.scheme)) {
      return;
    }
    if (!this.settings(editor.document).get<boolean>("completion.enabled", true)) {
      return;
    }
    const { line, character } = editor.selection.active;
    this.cursor.moved({ uri: editor.document.uri.toString(), line, character });
  }

  /** Pick a catalog model, download it (with progress, cancellable) unless it is there, then use it. */
  private async chooseModel(): Promise<void> {
    const launch = this.serverLaunch();
    if (!launch) {
      return;
    }
    const listed = await runCatalog(catalogCommand(launch, ["models", "--json"]));
    if (listed.code !== 0) {
      void vscode.window.showErrorMessage(`Infill: could not list the models: ${listed.stderr.trim()}`);
      return;
    }
    const current = (this.settings().get<string>("model.path") ?? "").trim();
    const pick = await vscode.window.showQuickPick(modelPicks(listed.stdout, current), {
      title: "Infill: Choose Model", placeHolder: "A code model for completions (downloaded once and verified)",
    });
    if (!pick) {
      return;
    }
    if (!pick.downloaded) {
      const pulled = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Infill: downloading ${pick.name}`, cancellable: true },
        (progress, token) => runCatalog(catalogCommand(launch, ["pull", pick.name]), token,
          (stderr) => progress.report({ message: lastProgressLine(stderr) })),
      );
      if (pulled.code !== 0) {
        if (pulled.cancelled) {
          void vscode.window.showInformationMessage(`Infill: the download of ${pick.name} was cancelled; nothing was kept.`);
        } else {
          void vscode.window.showErrorMessage(`Infill: ${pulled.stderr.trim().split("\n").pop()}`);
        }
        return;
      }
    }
    // A model.* setting restarts the server with the new model.
    await this.settings().update("model.path", pick.name, vscode.ConfigurationTarget.Global);
  }

  private settings(scope?: vscode.ConfigurationScope): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(SECTION, scope);
  }

  private contributedKeys(): string[] {
    return Object.keys(this.context.extension.packageJSON.contributes.configuration.properties);
  }

  log(line: string): void {
    this.output.appendLine(line);
  }

  /** The server's command line with its executable found, or undefined after telling the user. */
  private serverLaunch(): ServerLaunch | undefined {
    const launch = serverLaunch(this.settings());
    const found = locateCommand(launch.command, nodeHost());
    if (found) {
      return { ...launch, command: found };
    }
    this.state.failure = `the server ${launch.command} was not found on PATH or where pipx and uv install tools`;
    this.render();
    void vscode.window.showErrorMessage(`Infill: ${this.state.failure}.`, "Show Install Command").then((choice) => {
      if (choice) {
        this.output.appendLine(`Install the Infill server, then reload the window:\n${INSTALL_COMMANDS.join("\n")}`);
        this.output.show(true);
      }
    });
    return undefined;
  }

  async start(): Promise<void> {
    const launch = this.serverLaunch();
    if (!launch) {
      return;
    }
    const serverOptions: ServerOptions = { command: launch.command, args: launch.args, transport: TransportKind.stdio };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      initializationOptions: serverSettings(this.settings(), this.contributedKeys()),
      outputChannel: this.output,
      stdioOptions: {
        stdout: (input, channel) => readline.createInterface({ input }).on("line", (line) => channel.info(line)),
        stderr: (input, channel) => readline.createInterface({ input }).on("line", (line) => {
          const { level, text } = serverLogLine(line);
          channel[level](text);
        }),
      },
      middleware: {
        provideInlineCompletionItems: (document, position, context, token, next) =>
          this.provide(document, position, context, token, next),
      },
    };
    const client = new LanguageClient(SECTION, "Infill", serverOptions, clientOptions);
    this.client = client;
    client.registerFeature(streamingCapability);
    client.onDidChangeState((event) => {
      this.state.phase = event.newState === State.Running ? "running" : event.newState === State.Starting ? "starting" : "stopped";
      this.render();
    });
    client.onNotification("infill/partialCompletion", (partial: PartialCompletion) => this.streams.receive(partial));
    this.state.failure = undefined;
    this.state.server = undefined;
    this.render();
    try {
      await client.start();
    } catch (error) {
      this.state.failure = `the server did not start (${launch.command}): ${error instanceof Error ? error.message : String(error)}`;
      this.render();
      return;
    }
    this.pollStatus();
  }

  private async provide(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
    next: ProvideInlineCompletionItems,
  ): Promise<Suggestions> {
    if (!this.settings(document).get<boolean>("completion.enabled", true)) {
      return null;
    }
    const version = document.version;
    const key = spotKey(document.uri.toString(), version, position.line, position.character);
    const kept = this.streams.takeFinished(key);
    if (kept !== undefined) {
      return [acceptable(kept, position)];
    }
    this.state.generating += 1;
    this.render();
    const response = Promise.resolve(next(document, position, context, token)).finally(() => {
      this.state.generating -= 1;
      this.render();
    });
    const early = this.streams.firstText(key, (listener) => token.onCancellationRequested(listener));
    const first = await Promise.race([
      response.then((result) => ({ final: true as const, result })),
      early.then((text) => ({ final: false as const, text })),
    ]);
    if (first.final) {
      this.streams.release(key);
      return first.result;
    }
    if (first.text === undefined) {
      return response;
    }
    const shown = first.text;
    void response.then((result) => {
      const final = firstInsertText(result);
      const editor = vscode.window.activeTextEditor;
      const stillThere = editor?.document === document && document.version === version
        && editor.selection.active.isEqual(position);
      if (stillThere && this.streams.finish(key, shown, final)) {
        void vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
      }
    }, () => undefined);
    return [acceptable({ text: shown, id: this.streams.idOf(key) }, position)];
  }

  private pollStatus(): void {
    clearTimeout(this.statusTimer);
    const client = this.client;
    if (!client || !client.isRunning()) {
      return;
    }
    client.sendRequest<ServerStatus>("infill/status", {}).then(
      (status) => {
        this.state.server = status;
        this.render();
        const busy = !status.loaded || status.indexing;
        this.statusTimer = setTimeout(() => this.pollStatus(), busy ? STATUS_POLL_BUSY_MS : STATUS_POLL_IDLE_MS);
      },
      () => {
        this.statusTimer = setTimeout(() => this.pollStatus(), STATUS_POLL_IDLE_MS);
      },
    );
  }

  private render(): void {
    const document = vscode.window.activeTextEditor?.document;
    this.state.languageDisabled = document ? !this.settings(document).get<boolean>("completion.enabled", true) : false;
    const view = statusView(this.state);
    this.statusItem.text = view.text;
    this.statusItem.tooltip = view.tooltip;
    this.statusItem.backgroundColor = view.error ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  }

  private async onSettingsChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
    if (!event.affectsConfiguration(SECTION)) {
      return;
    }
    if (needsRestart((section) => event.affectsConfiguration(section))) {
      await this.restart();
      return;
    }
    const settings = serverSettings(this.settings(), this.contributedKeys());
    await this.client?.sendNotification("workspace/didChangeConfiguration", { settings: { [SECTION]: settings } });
    this.pollStatus();
  }

  private async toggle(): Promise<void> {
    const enabled = this.settings().get<boolean>("completion.enabled", true);
    await this.settings().update("completion.enabled", !enabled, vscode.ConfigurationTarget.Global);
    vscode.window.setStatusBarMessage(`Infill: completions ${enabled ? "off" : "on"}`, 3000);
  }

  async restart(): Promise<void> {
    clearTimeout(this.statusTimer);
    const client = this.client;
    this.client = undefined;
    this.state.phase = "starting";
    if (client) {
      await client.dispose().catch(() => undefined);
    }
    await this.start();
  }

  private async whyNoCompletion(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    let message: string;
    if (!editor) {
      message = "Open a file and put the cursor where you expected a suggestion.";
    } else if (!this.settings(editor.document).get<boolean>("completion.enabled", true)) {
      message = `Completions are off for ${editor.document.languageId} (setting infill.completion.enabled).`;
    } else if (!vscode.workspace.getConfiguration("editor", editor.document).get<boolean>("inlineSuggest.enabled", true)) {
      message = "VS Code's inline suggestions are off (setting editor.inlineSuggest.enabled).";
    } else if (!this.client?.isRunning()) {
      message = this.state.failure ?? "The Infill server is not running: see the log (Infill: Show Log).";
    } else {
      const position = editor.selection.active;
      const answer = await this.client.sendRequest<{ reason: string; message: string }>("infill/explain", {
        textDocument: { uri: editor.document.uri.toString() },
        position: { line: position.line, character: position.character },
      });
      message = answer.message;
    }
    const choice = await vscode.window.showInformationMessage(`Infill: ${message}`, "Show Log");
    if (choice === "Show Log") {
      this.output.show(true);
    }
  }

  dispose(): void {
    clearTimeout(this.statusTimer);
    for (const disposable of this.disposables) {
      disposable.dispose();
    }
    this.statusItem.dispose();
    this.output.dispose();
  }

  async stop(): Promise<void> {
    await this.client?.stop().catch(() => undefined);
  }
}

interface CatalogRun {
  code: number;
  stdout: string;
  stderr: string;
  cancelled: boolean;
}

/** This machine, for finding the server's executable. */
function nodeHost(): Host {
  return {
    env: process.env, home: os.homedir(), platform: process.platform,
    isExecutable: (file) => {
      try {
        fs.accessSync(file, fs.constants.X_OK);
        return fs.statSync(file).isFile();
      } catch {
        return false;
      }
    },
  };
}

/** Run a catalog command of the server's executable; cancelling interrupts it (SIGINT: the
 * download stops and removes what it had written). */
function runCatalog(launch: ServerLaunch, token?: vscode.CancellationToken,
  onStderr?: (stderr: string) => void): Promise<CatalogRun> {
  return new Promise((resolve) => {
    const child = spawn(launch.command, launch.args, { stdio: ["ignore", "pipe", "pipe"] });
    const run: CatalogRun = { code: -1, stdout: "", stderr: "", cancelled: false };
    child.stdout.on("data", (chunk: Buffer) => { run.stdout += chunk.toString(); });
    child.stderr.on("data", (chunk: Buffer) => {
      run.stderr += chunk.toString();
      onStderr?.(run.stderr);
    });
    token?.onCancellationRequested(() => {
      run.cancelled = true;
      child.kill("SIGINT");
    });
    child.on("error", (error) => resolve({ ...run, stderr: `${launch.command}: ${error.message}` }));
    child.on("close", (code) => resolve({ ...run, code: code ?? -1 }));
  });
}

function firstInsertText(result: Suggestions): string | undefined {
  const items = Array.isArray(result) ? result : result?.items;
  const text = items?.[0]?.insertText;
  return typeof text === "string" ? text : text?.value;
}

let infill: Infill | undefined;

/**
 * Activation returns at once: the server starts in the background, and the status item says
 * "starting" until it answers, so VS Code never waits on a Python process (or a missing one).
 */
export function activate(context: vscode.ExtensionContext): void {
  const started = Date.now();
  infill = new Infill(context);
  context.subscriptions.push(infill);
  void infill.start();
  infill.log(`activated in ${Date.now() - started} ms`);
}

export async function deactivate(): Promise<void> {
  await infill?.stop();
}
