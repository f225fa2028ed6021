// Drives Infill in a real VS Code (code-server, already serving at INFILL_E2E_URL) from headless
// Chromium, as a user would, and waits on what the editor shows, never on a fixed delay:
//   1. the ghost text appears after typing, and the status item stops spinning when it is whole;
//   2. Ctrl+Right accepts its first word, Tab the rest; the line holds the accepted text before
//      Ctrl+S, and the saved file then holds it too;
//   3. a keystroke that does not match the ghost text dismisses it;
//   4. "Infill: Why No Completion Here?" in a .env file says it is a secret;
//   5. VS Code's own activation time for the extension (Developer: Show Running Extensions);
//   6. a model path that does not exist (the workspace's settings) turns the status item into an error;
//   7. a server command found nowhere offers the install commands.
// Prints one "PASS: ..." line per step and exits 0, or "FAIL: ..." and exits 1. Screenshots of
// each step go to INFILL_E2E_ARTIFACTS.
const fs = require("node:fs");
const path = require("node:path");
const { chromium } = require("playwright-core");

const url = process.env.INFILL_E2E_URL;
const file = process.env.INFILL_E2E_FILE;
const secret = process.env.INFILL_E2E_SECRET;
const artifacts = process.env.INFILL_E2E_ARTIFACTS;
const logs = process.env.INFILL_E2E_LOGS; // code-server's log folder: the Infill output channel's file is there
const browserPath = process.env.INFILL_E2E_CHROMIUM || "/usr/bin/chromium";
const MODEL_LOAD_MS = 120000;
const SUGGESTION_MS = 60000;
const EDITOR_MS = 15000;

/** Polls ``check`` until it returns a truthy value (returned) or ``timeout`` passes (throws). */
async function until(what, check, timeout = EDITOR_MS) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The active editor's lines as the document holds them: ghost text left out. */
function documentLines(page) {
  return page.evaluate(() => {
    const editor = document.querySelector(".editor-group-container.active .monaco-editor .view-lines");
    if (!editor) return [];
    return [...editor.querySelectorAll(".view-line")]
      .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))
      .map((line) => {
        const copy = line.cloneNode(true);
        copy.querySelectorAll("[class*='ghost-text']").forEach((ghost) => ghost.remove());
        return copy.textContent.replace(/\u00a0/g, " ");
      });
  });
}

async function ghostText(page) {
  const parts = await page.locator(".editor-group-container.active [class*='ghost-text-decoration']").allTextContents();
  return parts.join("").replace(/\u00a0/g, " ");
}

function statusIcon(page, icon) {
  return page.locator(".statusbar-item", { hasText: "Infill" }).locator(`.codicon-${icon}`);
}

async function runCommand(page, title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ timeout: EDITOR_MS });
  await input.fill(`>${title}`);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first().waitFor({ timeout: EDITOR_MS });
  await page.keyboard.press("Enter");
}

async function openFile(page, name) {
  await page.locator(".explorer-folders-view").getByText(name, { exact: true }).dblclick();
  await until(`${name} to be the active editor`, async () =>
    (await page.locator(".editor-group-container.active .tab.active").textContent() ?? "").includes(name));
  await page.waitForSelector(".editor-group-container.active .monaco-editor .view-lines", { timeout: EDITOR_MS });
}

/**
 * The ghost text once it has settled. The first one shown may be a streamed part: the whole
 * suggestion replaces it after the request ends (the status item stops spinning), so the text
 * must read the same on consecutive looks with the status item at rest.
 */
async function settledGhostText(page) {
  let previous = null;
  let same = 0;
  return until("the ghost text to settle", async () => {
    await statusIcon(page, "sparkle").waitFor({ timeout: SUGGESTION_MS });
    const text = await ghostText(page);
    same = text === previous ? same + 1 : 0;
    previous = text;
    await new Promise((resolve) => setTimeout(resolve, 150));
    return text.trim() && same >= 3 ? text : null;
  }, SUGGESTION_MS);
}

/** Types ``text`` at the end of the file and returns the whole suggestion once it has arrived. */
async function suggestionAfter(page, text) {
  await page.keyboard.type(text, { delay: 40 });
  await until("ghost text", async () => (await ghostText(page)).trim(), SUGGESTION_MS);
  return settledGhostText(page);
}

async function main() {
  const profile = fs.mkdtempSync(path.join(artifacts, "profile-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: browserPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    viewport: { width: 1400, height: 900 },
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  let step = "start";
  const shot = (name) => page.screenshot({ path: path.join(artifacts, `${name}.png`) }).catch(() => {});
  try {
    step = "open";
    await page.goto(url);
    await page.waitForSelector(".monaco-workbench", { timeout: 60000 });
    await openFile(page, path.basename(file));
    await statusIcon(page, "sparkle").waitFor({ timeout: MODEL_LOAD_MS });
    await page.locator(".editor-group-container.active .view-lines").click();
    await page.keyboard.press("Control+End");

    step = "ghost";
    const suggested = await suggestionAfter(page, "def square(x):\nreturn x");
    await shot("1-ghost-text");
    console.log(`PASS: ghost text ${JSON.stringify(suggested)} after "return x"`);

    step = "accept";
    const typed = "    return x";
    const lastLine = async () => (await documentLines(page)).filter((line) => line.startsWith(typed)).pop() ?? "";
    await page.keyboard.press("Control+ArrowRight");
    const partial = await until("the first word accepted", async () => {
      const line = await lastLine();
      return line.length > typed.length ? line : null;
    });
    if (!(typed + suggested).startsWith(partial)) {
      throw new Error(`Ctrl+Right gave ${JSON.stringify(partial)}, not a start of ${JSON.stringify(typed + suggested)}`);
    }
    await shot("2-accepted-word");
    // What is left of the suggestion, as shown now: Tab must put exactly that into the line.
    const whole = (partial + (await settledGhostText(page))).trimEnd();
    await page.keyboard.press("Tab");
    await until(`the line to read ${JSON.stringify(whole)}`, async () => (await lastLine()).trimEnd() === whole);
    await page.keyboard.press("Control+S");
    await until("the saved file to hold the line", async () => fs.readFileSync(file, "utf8").includes(whole));
    await shot("3-accepted");
    console.log(`PASS: Ctrl+Right accepted ${JSON.stringify(partial.slice(typed.length))}, Tab the rest; saved ${JSON.stringify(whole)}`);

    step = "acceptance counted";
    // VS Code ran the item's command (infill.accepted) on Tab: the server logged a known suggestion.
    const accepted = await until("the server to log the acceptance", async () => {
      const name = fs.readdirSync(logs, { recursive: true }).find((entry) => String(entry).endsWith("Infill.log"));
      const text = name ? fs.readFileSync(path.join(logs, String(name)), "utf8") : "";
      return text.split("\n").find((line) => /accepted id=\d+ chars=\d+$/.test(line.trimEnd()));
    });
    console.log(`PASS: the acceptance reached the server (${accepted.trim().split("] ").pop()})`);

    step = "dismiss";
    await page.keyboard.press("End");
    const offered = await suggestionAfter(page, "\n\nprint(squ");
    const mismatch = offered.startsWith("#") ? "@" : "#";
    await page.keyboard.type(mismatch);
    await until("the ghost text to go", async () => !(await ghostText(page)).startsWith(offered.slice(1)) || !offered.slice(1));
    await shot("4-dismissed");
    console.log(`PASS: typing ${JSON.stringify(mismatch)} dismissed the ghost text ${JSON.stringify(offered)}`);
    await page.keyboard.press("Control+S");

    step = "secret";
    await openFile(page, path.basename(secret));
    await page.locator(".editor-group-container.active .view-lines").click();
    await page.keyboard.press("Control+End");
    await runCommand(page, "Infill: Why No Completion Here?");
    const toast = page.locator(".notifications-toasts .notification-toast", { hasText: "secret" });
    await toast.first().waitFor({ timeout: EDITOR_MS });
    const answer = (await toast.first().locator(".notification-list-item-message").textContent()) ?? "";
    await shot("5-why-secret");
    console.log(`PASS: in ${path.basename(secret)}: ${JSON.stringify(answer.trim().slice(0, 120))}`);

    step = "activation";
    await runCommand(page, "Developer: Show Running Extensions");
    const row = page.locator(".runtime-extensions-editor .monaco-list-row", { hasText: "Infill" });
    await row.first().waitFor({ timeout: EDITOR_MS });
    const activation = await until("the activation time", async () => {
      const text = (await row.first().textContent()) ?? "";
      const found = text.match(/(\d+)\s*ms/);
      return found ? Number(found[1]) : null;
    });
    await shot("6-running-extensions");
    console.log(`PASS: activation ${activation} ms (VS Code's Running Extensions)`);

    step = "missing model";
    const workspaceSettings = path.join(path.dirname(file), ".vscode", "settings.json");
    fs.mkdirSync(path.dirname(workspaceSettings), { recursive: true });
    fs.writeFileSync(workspaceSettings, JSON.stringify({ "infill.model.path": path.join(path.dirname(file), "no-such-model.gguf") }));
    await statusIcon(page, "error").waitFor({ timeout: MODEL_LOAD_MS });
    await shot("7-missing-model");
    console.log("PASS: a missing model turns the status item into an error");

    step = "server not found";
    fs.writeFileSync(workspaceSettings, JSON.stringify({ "infill.server.pythonPath": "",
      "infill.server.command": "infill-lsp-not-installed" }));
    const notFound = page.locator(".notifications-toasts .notification-toast", { hasText: "was not found" });
    await notFound.first().waitFor({ timeout: EDITOR_MS });
    await notFound.first().getByRole("button", { name: "Show Install Command" }).click();
    await until("the install commands in the log", async () =>
      (await page.locator(".part.panel .view-lines").textContent() ?? "").replace(/\u00a0/g, " ").includes("pipx install"));
    await shot("8-server-not-found");
    const channelFile = fs.readdirSync(logs, { recursive: true }).find((name) => String(name).endsWith("Infill.log"));
    const log = channelFile ? fs.readFileSync(path.join(logs, String(channelFile)), "utf8") : "";
    // The server's own log lines keep their level there: its start is information, its
    // failure to load the model an error.
    if (!/\[info\] infill_lsp\.cli: /.test(log) || !/\[error\] infill_lsp\.inference: Infill could not load/.test(log)) {
      throw new Error(`the server's log lines lost their levels: ${JSON.stringify(log.slice(-600))}`);
    }
    console.log("PASS: a server found nowhere offers the install commands; the server's log keeps its levels");
  } catch (error) {
    await shot(`failed-${step.replace(/ /g, "-")}`);
    throw new Error(`${step}: ${error.message}`);
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(`FAIL: ${error.message}`);
  process.exit(1);
});
