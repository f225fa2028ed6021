// Types in a Python file in a real VS Code (code-server, already serving at INFILL_E2E_URL) and
// checks that Infill's ghost text appears and that Tab writes it into the file.
// Exit code 0: passed. Screenshots of each step go to INFILL_E2E_ARTIFACTS.
const fs = require("node:fs");
const path = require("node:path");
const { chromium } = require("playwright-core");

const url = process.env.INFILL_E2E_URL;
const file = process.env.INFILL_E2E_FILE;
const artifacts = process.env.INFILL_E2E_ARTIFACTS;
const browserPath = process.env.INFILL_E2E_CHROMIUM || "/usr/bin/chromium";

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
  const shot = (name) => page.screenshot({ path: path.join(artifacts, `${name}.png`) });
  try {
    await page.goto(url);
    await page.waitForSelector(".monaco-workbench", { timeout: 60000 });
    await page.locator(".explorer-folders-view").getByText(path.basename(file), { exact: true }).dblclick();
    await page.waitForSelector(".monaco-editor .view-lines", { timeout: 30000 });
    // Wait for the extension's status item to say the model is loaded.
    await page.locator(".statusbar-item", { hasText: "Infill" }).locator(".codicon-sparkle").waitFor({ timeout: 120000 }).catch(async () => { await shot("status-not-ready"); throw new Error("Infill never became ready"); });
    const lines = page.locator(".monaco-editor .view-lines");
    await lines.click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("def square(x):\n", { delay: 60 });
    await page.keyboard.type("return x", { delay: 60 });
    const ghost = page.locator(".ghost-text-decoration");
    await ghost.first().waitFor({ timeout: 60000 }).catch(async () => { await shot("no-ghost-text"); throw new Error("no ghost text"); });
    await shot("ghost-text-first");
    // The first ghost text may be a streamed part; once the status item stops spinning the whole
    // suggestion has arrived (and replaced the part without a second model call).
    await page.locator(".statusbar-item", { hasText: "Infill" }).locator(".codicon-sparkle").waitFor({ timeout: 60000 });
    await page.waitForTimeout(500);
    const suggested = (await ghost.allTextContents()).join("").replace(/\u00a0/g, " ");
    const expected = ("return x" + suggested).trimEnd();
    await shot("ghost-text");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Control+S");
    const deadline = Date.now() + 15000;
    let saved = "";
    while (Date.now() < deadline) {
      saved = fs.readFileSync(file, "utf8");
      if (saved.includes(expected)) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await shot("accepted");
    const line = saved.split("\n").filter((l) => l.includes("return x")).pop() ?? "";
    if (!suggested.trim() || !line.includes(expected)) {
      throw new Error(`accepted text not in the file: ghost ${JSON.stringify(suggested)}, line ${JSON.stringify(line)}`);
    }
    console.log(`PASS: ghost text ${JSON.stringify(suggested)} accepted; saved line ${JSON.stringify(line)}`);
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(`FAIL: ${error.message}`);
  process.exit(1);
});
