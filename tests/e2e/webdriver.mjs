// A minimal W3C WebDriver client (one session, JSON over HTTP) for the browsers that
// playwright-core cannot drive here: Debian's firefox-esr (over geckodriver) and WebKitGTK's
// MiniBrowser, Safari's engine (over WebKitWebDriver). Each test file says how to start its
// driver and which capabilities its session asks for.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT } from "./harness.mjs";

/** A port free now: the OS's pick for a listener that is closed again (for a driver that
 *  cannot pick its own and print it). */
async function freePort() {
  const srv = createServer();
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", () => resolve(null)));
  const { port } = /** @type {import("node:net").AddressInfo} */ (srv.address());
  await new Promise((resolve) => srv.close(() => resolve(null)));
  return port;
}

/**
 * Starts a driver and opens one session.
 * @param {{ name: string, command: string, args: (port: number) => string[], capabilities: object,
 *   printsPort?: RegExp, env?: Record<string, string> }} how  `printsPort`: the driver picks its
 *   own port (`--port 0`) and prints it in a line this matches (no free-port guess can then
 *   race another process); otherwise a free port is passed and its /status polled. `env`:
 *   variables added to the driver's environment (the browser it starts inherits them).
 */
export async function webdriver({ name, command, args, capabilities, printsPort, env = {} }) {
  const port0 = printsPort ? 0 : await freePort();
  // its own process group: a driver started through a wrapper (xvfb-run) goes with all it
  // started (the display, the browser)
  const proc = spawn(command, args(port0), { stdio: ["ignore", "pipe", "pipe"], detached: true, env: { ...process.env, ...env } });
  let out = "";
  // the listeners stay, so the log is read to the end and a full pipe never blocks it
  const keep = (/** @type {Buffer} */ d) => { if (out.length < 10_000) out += d; };
  proc.stdout.on("data", keep);
  proc.stderr.on("data", keep);
  const exited = new Promise((_, reject) => proc.on("exit", (code) => reject(new Error(`${name} exited with ${code}: ${out}`))));
  exited.catch(() => {});
  const port = await Promise.race([exited, new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = async () => {
      if (Date.now() - t0 > 60_000) return reject(new Error(`${name} did not start in 60 s: ${out}`));
      if (printsPort) {
        const m = out.match(printsPort);
        if (m) return resolve(Number(m[1]));
      } else {
        const ok = await fetch(`http://127.0.0.1:${port0}/status`).then((r) => r.ok, () => false);
        if (ok) return resolve(port0);
      }
      setTimeout(poll, 100);
    };
    poll();
  })]);
  const base = `http://127.0.0.1:${port}`;
  /** @param {string} method  @param {string} url  @param {object} [body] */
  const call = async (method, url, body) => {
    const r = await fetch(base + url, { method, body: body && JSON.stringify(body), headers: { "content-type": "application/json" } });
    const json = await r.json();
    if (json.value?.error) throw new Error(`${json.value.error}: ${json.value.message}`);
    return json.value;
  };
  const session = await call("POST", "/session", { capabilities: { alwaysMatch: capabilities } });
  const s = `/session/${session.sessionId}`;
  const run = (/** @type {string} */ script, /** @type {unknown[]} */ ...args) => call("POST", `${s}/execute/sync`, { script, args });
  return {
    /** the session's capabilities, as the driver answered */
    capabilities: session.capabilities,
    go: (/** @type {string} */ url) => call("POST", `${s}/url`, { url }),
    /** Picks `files` (paths) in a file input, as a user would. */
    async upload(/** @type {string} */ selector, /** @type {string[]} */ ...files) {
      const el = await call("POST", `${s}/element`, { using: "css selector", value: selector });
      await call("POST", `${s}/element/${Object.values(el)[0]}/value`, { text: files.join("\n") });
    },
    run,
    /** Runs an async script: `arguments[arguments.length - 1]` is its callback. */
    runAsync: (/** @type {string} */ script, /** @type {unknown[]} */ ...args) => call("POST", `${s}/execute/async`, { script, args }),
    /** Polls `predicate` (a function body returning a value) until it is truthy. */
    async until(/** @type {string} */ predicate, timeoutMs = 120_000) {
      const t0 = Date.now();
      for (;;) {
        const v = await run(predicate);
        if (v) return v;
        if (Date.now() - t0 > timeoutMs) {
          // what the page says, to tell a slow page from a failed step
          const said = await run("return ['model-status', 'result-status', 'image-status'].map((id) => `${id}: ${document.getElementById(id)?.textContent}`).join(' | ')")
            .catch((e) => `(unreadable: ${e.message})`);
          throw new Error(`timed out waiting for: ${predicate}; the page says ${said}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async close() {
      await call("DELETE", s).catch(() => {});
      try { process.kill(-(proc.pid ?? 0), "SIGTERM"); } catch { /* gone already */ }
    },
  };
}

/** www/ as it is, plus one classic script that runs before the page's modules and keeps
 *  every Worker the page starts in `window.workers` (WebDriver has no init scripts). */
export function wwwWithWorkerHook(/** @type {string} */ prefix) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  for (const f of readdirSync(path.join(ROOT, "www"))) {
    if (f !== "index.html") symlinkSync(path.join(ROOT, "www", f), path.join(dir, f));
  }
  writeFileSync(path.join(dir, "test-hook.js"), `window.workers = [];
    window.Worker = class extends window.Worker { constructor(...a) { super(...a); window.workers.push(this); } };`);
  const html = readFileSync(path.join(ROOT, "www/index.html"), "utf8");
  writeFileSync(path.join(dir, "index.html"), html.replace("<script type=\"module\"", "<script src=\"test-hook.js\"></script>\n  <script type=\"module\""));
  return dir;
}

/** A command's path, or "" where it is not installed. */
export const which = (/** @type {string} */ name) => spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();

/** WebKitWebDriver and xvfb-run, or "" for each that is missing (Debian: webkit2gtk-driver,
 *  xvfb). */
export const WEBKIT = { driver: which("WebKitWebDriver"), xvfbRun: which("xvfb-run") };

/** What the tests run JavaScriptCore with: its wasm tiers compiled on the thread that runs
 *  them, not beside it, because WebKitGTK 2.50.6's concurrent tier-up miscompiles now and then
 *  (the counts are in the README's "Safari's engine"). build.sh's WebKit API tests set the
 *  same; the bench leaves it out, to measure WebKit as shipped. */
export const JSC_TEST_ENV = { JSC_useConcurrentJIT: "false" };

/** A session in MiniBrowser, Safari's engine, over WebKitWebDriver (which starts it with
 *  `--automation`), on a virtual display of its own that goes when the driver does; `env`
 *  reaches the browser (JavaScriptCore reads its options from `JSC_` variables). */
export const webkit = (/** @type {Record<string, string>} */ env = {}) => webdriver({
  name: "WebKitWebDriver", command: WEBKIT.xvfbRun, args: (port) => ["-a", WEBKIT.driver, `--port=${port}`],
  capabilities: {}, env,
});
