// Opens the test server's page twice in headless Chromium (Debian's
// package) and checks what a person would see: the dumb-increment number
// counting up and "Reset counter" resetting it, a mirror message sent by
// another client drawn on the canvas, and a stroke drawn with the mouse on
// one page appearing on the other.
//
//   node check-page.mjs --url http://127.0.0.1:7681/ --screenshot out.png
//       [--second-url http://127.0.0.1:7682/]
//
// The second page opens --second-url (default: --url): another server
// sharing the mirror through a broker, or the same server behind a proxy.
//
// Talks to its caller (adapters/tests/tools.rs) in lines on stdout:
//   numbers: 3 5 8      the #number values seen, increasing
//   ready 12            the mirror is open; 12 messages received so far:
//                       now send the red line "d #ff0000 20 150 580 150;"
//   mirror: 13 messages, 1040 red pixels
//   reset: 17 -> 2      the number after "Reset counter"
//   stroke: 520 blue pixels on the second page
//   ok                  all checks passed, screenshot written
//   FAIL <reason>       a check failed (screenshot written if possible)
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";

const STEP_TIMEOUT = 20000;

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const url = arg("--url", "http://127.0.0.1:7681/");
const secondUrl = arg("--second-url", url);
const screenshot = arg("--screenshot", "test-server.png");
const executablePath = arg("--chromium", "/usr/bin/chromium");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, check, timeout = STEP_TIMEOUT) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await sleep(50);
  }
}

// Counts the pixels of the red test line (rows 149-150, x 30..570).
function redPixels() {
  const c = document.getElementById("canvas");
  const d = c.getContext("2d").getImageData(30, 148, 540, 4).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] > 200 && d[i + 1] < 60 && d[i + 2] < 60 && d[i + 3] > 60) n++;
  }
  return n;
}

// Counts the blue pixels around row 230 (the stroke drawn with the mouse).
function bluePixels() {
  const c = document.getElementById("canvas");
  const d = c.getContext("2d").getImageData(30, 226, 540, 8).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] < 60 && d[i + 1] < 60 && d[i + 2] > 200 && d[i + 3] > 60) n++;
  }
  return n;
}

const number = async (p) => Number((await p.textContent("#number")).trim());

const profile = mkdtempSync(join(tmpdir(), "ws-chromium-"));
let context;
let page;
let failed = null;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    ignoreHTTPSErrors: true,
    viewport: { width: 900, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => console.error("console:", m.text()));
  await page.goto(url, { timeout: STEP_TIMEOUT });
  await page.waitForFunction(
    () =>
      document.getElementById("di-state").textContent === "open" &&
      document.getElementById("mirror-state").textContent === "open",
    null,
    { timeout: STEP_TIMEOUT },
  );

  // The number must change at least twice, and go up each time.
  const seen = [];
  await until("#number to count up", async () => {
    const t = (await page.textContent("#number")).trim();
    const n = Number(t);
    if (t !== "-" && Number.isInteger(n) && (seen.length === 0 || n !== seen[seen.length - 1])) {
      if (seen.length > 0 && n < seen[seen.length - 1]) {
        throw new Error("#number went down: " + seen.join(" ") + " " + n);
      }
      seen.push(n);
    }
    return seen.length >= 3;
  });
  console.log("numbers: " + seen.join(" "));

  const count = async () => parseInt(await page.textContent("#mirror-count"), 10);
  const before = await count();
  console.log("ready " + before);
  const result = await until("the mirror message to be drawn", async () => {
    const n = await count();
    const red = await page.evaluate(redPixels);
    return n > before && red >= 300 ? { n, red } : null;
  });
  console.log(`mirror: ${result.n} messages, ${result.red} red pixels`);

  // "Reset counter": the number starts again from 0.
  const counted = await number(page);
  await page.click("#reset");
  const after = await until("the number to reset", async () => {
    const n = await number(page);
    return Number.isInteger(n) && n < counted && n < 10 ? { n } : null;
  });
  console.log(`reset: ${counted} -> ${after.n}`);

  // A second page; a blue stroke drawn with the mouse on the first
  // appears on the second.
  const second = await context.newPage();
  second.on("console", (m) => console.error("console (second):", m.text()));
  await second.goto(secondUrl, { timeout: STEP_TIMEOUT });
  await second.waitForFunction(
    () => document.getElementById("mirror-state").textContent === "open",
    null,
    { timeout: STEP_TIMEOUT },
  );
  await page.selectOption("#color", "#0000ff");
  const box = await page.locator("#canvas").boundingBox();
  await page.mouse.move(box.x + 40, box.y + 230);
  await page.mouse.down();
  for (let x = 60; x <= 560; x += 20) {
    await page.mouse.move(box.x + x, box.y + 230);
  }
  await page.mouse.up();
  const stroke = await until("the stroke on the second page", async () => {
    const blue = await second.evaluate(bluePixels);
    return blue >= 300 ? { blue } : null;
  });
  console.log(`stroke: ${stroke.blue} blue pixels on the second page`);
  await second.screenshot({ path: screenshot.replace(/\.png$/, "-second.png"), fullPage: true });
} catch (e) {
  failed = e;
}
try {
  if (page) {
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
  }
} catch (e) {
  console.error("screenshot: " + e.message);
}
if (context) await context.close();
rmSync(profile, { recursive: true, force: true });
if (failed) {
  console.log("FAIL " + failed.message.split("\n")[0]);
  process.exit(1);
}
console.log("ok");
