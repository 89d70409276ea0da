// Nothing the user had is lost when the engine fails: a worker whose wasm traps is
// replaced, given the last model again, and the next request works.
import assert from "node:assert/strict";
import { test } from "node:test";
import { answerTo, contextKeepingWorkers, waitText, pageServerAndBrowser } from "./harness.mjs";

const env = pageServerAndBrowser();

test("a worker that traps is restarted with the last model, and the user is told", async (t) => {
  const context = await contextKeepingWorkers(env.browser);
  t.after(() => context.close());
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(env.server.url);
  await waitText(page, "#model-status", /Loaded Fashion-VGG/);
  await answerTo(page, "#samples-fashion .sample >> nth=0");
  const before = await page.textContent("#predictions li .label");
  await page.evaluate(() => window.workers.at(-1).postMessage({ id: -1, type: "crashForTest" }));
  await waitText(page, "#model-status", /The engine stopped \(unreachable \(a test asked for a trap\)\) and was restarted with Fashion-VGG \(trained here\); you can go on\./);
  assert.equal(await page.evaluate(() => window.workers.length), 2, "a new worker replaced the old one");
  // the image is run again on the reloaded model, and the next request works
  await waitText(page, "#result-status", /Top \d+ for /);
  assert.equal(await page.textContent("#predictions li .label"), before);
  const next = await page.getAttribute("#samples-fashion .sample >> nth=1", "aria-label");
  await page.click("#samples-fashion .sample >> nth=1");
  await waitText(page, "#result-status", new RegExp(`Top \\d+ for ${next.replace(/[()/]/g, ".")}`));
  assert.ok((await page.$$("#predictions li")).length > 0);
});
