// Headless Chromium as a WebSocket client of our echo servers, for
// adapters/tests/interop_matrix.rs.
//
//   node chromium-echo.mjs [--chromium /usr/bin/chromium] NAME=URL=on|off ...
//
// One browser, one page (served by a tiny HTTP server on 127.0.0.1 that
// this script runs: Chromium's Local Network Access checks block a data:
// page from opening ws://127.0.0.1, a page from 127.0.0.1 may); for
// every NAME=URL=MODE it opens `new WebSocket(URL)` and runs the
// conversation:
//   * extensions: Chromium always offers permessage-deflate; MODE "on"
//     wants it accepted, "off" wants it declined (ws.extensions === "");
//   * a text (non-ASCII), a binary ArrayBuffer, an empty binary, a 1 MiB
//     binary and a 1 MiB text, each echoed unchanged;
//   * ws.close(4000, reason): the close event must be clean, code 4000;
//   * a second connection sends "close-me": the server closes with 4000
//     "server-close", which the close event must show.
// Prints one line per connection, "ok NAME ext=... close=CODE/REASON
// server-close=CODE/REASON", or "FAIL NAME reason"; exits 1 on any failure.
import { createServer } from "node:http";
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const STEP = 20000;

const argv = process.argv.slice(2);
let executablePath = "/usr/bin/chromium";
const targets = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--chromium") executablePath = argv[++i];
  else {
    const [name, url, mode] = argv[i].split("=");
    targets.push({ name, url, compress: mode === "on" });
  }
}

// Runs in the page. Everything it checks ends up in the returned object or
// in the thrown error.
const PAGE_SCRIPT = `
const STEP = ${STEP};
function pattern(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31) % 251;
  return b;
}
function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const queue = [];
    let waiter = null;
    const push = (ev) => {
      if (waiter) { const w = waiter; waiter = null; w(ev); } else queue.push(ev);
    };
    ws.onmessage = (e) => push({ kind: "message", data: e.data });
    ws.onclose = (e) => push({ kind: "close", code: e.code, reason: e.reason, clean: e.wasClean });
    ws.onerror = () => push({ kind: "error" });
    ws.next = (what) => new Promise((res, rej) => {
      if (queue.length) return res(queue.shift());
      const t = setTimeout(() => { waiter = null; rej(new Error(what + ": nothing within " + STEP + " ms")); }, STEP);
      waiter = (ev) => { clearTimeout(t); res(ev); };
    });
    ws.onopen = () => resolve(ws);
    setTimeout(() => reject(new Error("open: timed out")), STEP);
    const early = ws.onclose;
    ws.onclose = (e) => { early(e); reject(new Error("closed before open: " + e.code)); };
    ws.addEventListener("open", () => { ws.onclose = early; });
  });
}
function same(a, b) {
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (!(a instanceof ArrayBuffer)) return false;
  const x = new Uint8Array(a), y = new Uint8Array(b);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
async function echo(ws, data, what) {
  ws.send(data);
  const ev = await ws.next(what);
  if (ev.kind !== "message") throw new Error(what + ": got " + JSON.stringify(ev));
  const want = typeof data === "string" ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  if (!same(ev.data, want)) {
    const n = typeof ev.data === "string" ? ev.data.length : ev.data.byteLength;
    throw new Error(what + ": echo differs (" + typeof ev.data + ", " + n + " long)");
  }
}
async function closed(ws, what) {
  for (;;) {
    const ev = await ws.next(what);
    if (ev.kind === "close") return ev;
    if (ev.kind !== "error") throw new Error(what + ": got " + JSON.stringify(ev).slice(0, 200));
  }
}
window.converse = async (url) => {
  const ws = await open(url);
  const ext = ws.extensions;
  await echo(ws, "hello from chromium \\u2713 \\u{1F600}", "text");
  await echo(ws, new Uint8Array([0, 1, 2, 255]), "binary");
  await echo(ws, new Uint8Array(0), "empty binary");
  await echo(ws, pattern(1 << 20), "1 MiB binary");
  await echo(ws, "abc\\u00e9\\u2713".repeat(1 << 20 >> 3), "1 MiB text");
  ws.close(4000, "chromium says bye");
  const c = await closed(ws, "close 4000");
  if (!c.clean || c.code !== 4000) throw new Error("close 4000: " + JSON.stringify(c));

  const ws2 = await open(url);
  ws2.send("close-me");
  const s = await closed(ws2, "server's close");
  if (!s.clean || s.code !== 4000 || s.reason !== "server-close")
    throw new Error("server's close: " + JSON.stringify(s));
  return { ext, close: c.code + "/" + c.reason, serverClose: s.code + "/" + s.reason };
};
`;
const HTML = "<!doctype html><meta charset=utf-8><title>ws echo</title><script>" + PAGE_SCRIPT + "</script>";
const http = createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
  res.end(HTML);
});
await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
const PAGE = `http://127.0.0.1:${http.address().port}/`;

const profile = mkdtempSync(join(tmpdir(), "ws-matrix-chromium-"));
let context;
let failed = false;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    timeout: STEP,
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
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => console.error("console:", m.text()));
  await page.goto(PAGE, { timeout: STEP });
  console.log("browser", context.browser()?.version() ?? "chromium");
  for (const t of targets) {
    try {
      const r = await page.evaluate((url) => window.converse(url), t.url);
      const accepted = r.ext.startsWith("permessage-deflate");
      if (t.compress ? !accepted : r.ext !== "") {
        throw new Error(`extensions ${JSON.stringify(r.ext)} with compression ${t.compress ? "on" : "off"}`);
      }
      console.log(`ok ${t.name} ext=${r.ext || "-"} close=${r.close} server-close=${r.serverClose}`);
    } catch (e) {
      failed = true;
      console.log(`FAIL ${t.name} ${String(e.message ?? e).split("\n")[0]}`);
    }
  }
} catch (e) {
  failed = true;
  console.log(`FAIL browser ${String(e.message ?? e).split("\n")[0]}`);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  http.close();
}
process.exit(failed ? 1 : 0);
