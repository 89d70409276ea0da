// Shared by the e2e tests and the benchmark: a static server on loopback and Debian's
// headless Chromium driven by playwright-core (no browser download).
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, afterEach, before } from "node:test";
import { chromium } from "playwright-core";
import { formatBytes } from "../../www/format.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SHOTS = path.join(ROOT, ".e2e", "screenshots");

/** A file's size as the page writes it ("893.1 KiB"), escaped for a RegExp: computed, so
 *  that a fixture that grows changes no test. */
export function sizeRe(file) {
  return formatBytes(statSync(file).size).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** Serves `dir` on a free loopback port as `./build.sh serve` does (tools/serve.py: static
 *  files, the page's Content-Security-Policy as a header, and cross-origin isolation
 *  unless `isolated` is false). */
export async function serve(dir, { isolated = true } = {}) {
  const proc = spawn("python3", ["-u", path.join(ROOT, "tools/serve.py"), dir, "0", ...(isolated ? [] : ["--not-isolated"])], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  // Its request log (a line per request on stderr) is read all along, keeping the last
  // lines for an error: a pipe nobody reads fills at 64 KiB, after which every request
  // blocks on its log line and the server stops answering (it did, some 600 requests into
  // a test file).
  let log = "";
  proc.stderr.on("data", (d) => { log = (log + d).slice(-4000); });
  const port = await new Promise((resolve, reject) => {
    let out = "";
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/port (\d+)/);
      if (m) resolve(Number(m[1]));
    });
    proc.on("exit", (code) => reject(new Error(`static server exited with ${code}: ${out}${log}`)));
  });
  return { url: `http://127.0.0.1:${port}`, close: () => proc.kill() };
}

/** Chromium's software WebGPU adapter (SwiftShader): slow, but the GPU path runs anywhere. */
export const WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", "--enable-unsafe-swiftshader"];

/** Headless Chromium as root on a closed network: no sandbox, no background traffic.
 *  Playwright gives each launch a fresh, empty profile. Without `webgpu` it has no GPU
 *  (and no WebGPU adapter): the CPU path, as on most machines without a GPU driver. `args`:
 *  more command-line flags. Every page opened in it, in any context, is watched (`watch`). */
export async function launch({ webgpu = false, args = [] } = {}) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: [
      ...(webgpu ? WEBGPU_FLAGS : ["--disable-gpu"]), "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
      // a fake camera that needs no permission prompt, for the webcam snapshot test
      "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
      ...args,
    ],
  });
  // browser.newPage makes its context through newContext, so both end up here
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (...options) => {
    const context = await newContext(...options);
    context.on("page", (page) => watch(page));
    return context;
  };
  return browser;
}

/** For a test file that drives the page: serves www/ and launches Chromium before its
 *  tests, closes both after them. `server` and `browser` are set once the tests run. */
export function pageServerAndBrowser() {
  const env = { server: null, browser: null };
  before(async () => {
    env.server = await serve(path.join(ROOT, "www"));
    env.browser = await launch();
  });
  after(async () => {
    await env.browser?.close();
    env.server?.close();
  });
  return env;
}

/** A browser context (1200×1000) whose page keeps every worker it starts in
 *  `window.workers`, so that a test can send one the test-only `crashForTest` request. */
export async function contextKeepingWorkers(browser) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
  await context.addInitScript(() => {
    const Original = window.Worker;
    window.workers = [];
    window.Worker = class extends Original {
      constructor(...args) {
        super(...args);
        window.workers.push(this);
      }
    };
  });
  return context;
}

/** Saves a screenshot under .e2e/screenshots and returns its path. */
export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// Uncaught errors and Content Security Policy violations on the pages a test opened; the
// test fails after it ran when one is not on its allow-list (see `watch`).
const problems = [];
// each watched page's allow-list (see `watch`)
const allowLists = new WeakMap();
afterEach(() => {
  const found = problems.splice(0).filter((p) => !p.allow.some((re) => re.test(p.text)));
  if (found.length) throw new Error(`the page reported ${found.map((p) => p.text).join(" | ")}`);
});

/**
 * Records `page`'s uncaught errors and CSP violations for the running test, which fails on
 * any that no RegExp in `allow` matches (for a test that provokes them on purpose: it
 * pushes the RegExp just before, so that the same problem earlier still fails it).
 */
export function watch(page, allow = []) {
  // once per page: a page the browser watched from its start takes the test's allow-list
  const watched = allowLists.has(page);
  allowLists.set(page, allow);
  if (watched) return page;
  // (the list as it is when a problem comes: a test may add to it just before it provokes one)
  const now = () => [...(allowLists.get(page) ?? [])];
  page.on("pageerror", (e) => problems.push({ text: `page error: ${e.message}`, allow: now() }));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy/.test(m.text())) problems.push({ text: `CSP: ${m.text()}`, allow: now() });
  });
  return page;
}

/** Opens the page at `url` in a fresh context, watched (see `watch`). */
export async function openPage(browser, url, viewport = { width: 1200, height: 1000 }, allow = []) {
  const page = watch(await browser.newPage({ viewport }), allow);
  await page.goto(url);
  return page;
}

/** Waits until the page has no run in flight or queued: its result panel's aria-busy is
 *  not "true" (www/actions/runs.js sets it for the whole of a run, layers included). */
export function idle(page, timeout = 120_000) {
  return page.waitForFunction(() => document.querySelector("#result-panel")?.getAttribute("aria-busy") !== "true", null, { timeout });
}

/** Chromium's network emulation for `page`: 20 Mbit/s down, 5 up, 20 ms, a slow home
 *  connection. */
export async function slowNetwork(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 20, downloadThroughput: 20e6 / 8, uploadThroughput: 5e6 / 8 });
}

/** Resolves after the page has drawn its next frame. */
export function nextFrame(page) {
  return page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/** Waits until the text of `selector` matches `re`. */
export function waitText(page, selector, re, timeout = 60_000) {
  return page.waitForFunction(([s, src]) => new RegExp(src).test(document.querySelector(s)?.textContent ?? ""),
    [selector, re.source], { timeout });
}

/**
 * Clicks `selector` (an image source) and waits for the answer to that click: the page runs a
 * sample by itself at first open, so this first waits for that answer, then watches the
 * status change and read `re` with predictions drawn (not the earlier answer's heading).
 */
export async function answerTo(page, selector, re = /^Top \d+ for /, timeout = 60_000) {
  await waitText(page, "#result-status", /^Top \d+ for |feature maps of shape/, timeout);
  await page.evaluate(() => {
    window.statusChanged = false;
    new MutationObserver(() => (window.statusChanged = true))
      .observe(document.querySelector("#result-status"), { childList: true, characterData: true, subtree: true });
  });
  await page.click(selector);
  await page.waitForFunction(([src]) => window.statusChanged && new RegExp(src).test(document.querySelector("#result-status").textContent) &&
    document.querySelector("#predictions li, #feature-maps canvas"), [re.source], { timeout });
}

/** A test's `skip` option for a missing prerequisite: in CI (CI=true, which .ci/run sets) a
 *  missing browser, driver or file fails the test instead of skipping it. */
export function skipUnless(present, what) {
  return present || process.env.CI === "true" ? false : `${what} is missing`;
}

/** A second origin on loopback that serves `files` ({"/name": Buffer}) with CORS allowed,
 *  `chunk` bytes every `delayMs` ms (a slow connection), and counts what it was asked:
 *  `requests` started, `aborted` closed by the client before the last byte. */
export async function serveFiles(files, { chunk = Infinity, delayMs = 0 } = {}) {
  const stats = { requests: 0, aborted: 0 };
  const server = createServer((req, res) => {
    stats.requests += 1;
    const body = files[new URL(req.url, "http://x").pathname];
    if (!body) return res.writeHead(404).end();
    res.writeHead(200, {
      "content-type": "application/octet-stream", "content-length": body.length,
      "access-control-allow-origin": "*", "access-control-expose-headers": "content-length",
    });
    let sent = 0;
    const next = () => {
      if (res.destroyed) return;
      const end = Math.min(body.length, sent + chunk);
      res.write(body.subarray(sent, end));
      sent = end;
      if (sent < body.length) setTimeout(next, delayMs);
      else res.end();
    };
    res.on("close", () => { if (sent < body.length) stats.aborted += 1; });
    next();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, stats, close: () => server.close() };
}
