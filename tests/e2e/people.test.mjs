// The page as people use it: it stays where the person is, the model picker loads only on an
// explicit choice, the answer bar points the right way and covers nothing in use, teaching
// sits beside the image, everything works from the keyboard, and axe-core (the standard
// accessibility engine) finds no WCAG 2.1 A/AA violation in the page's main states, at a
// laptop's and a phone's size.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { ROOT, idle, nextFrame, pageServerAndBrowser, shot, waitText } from "./harness.mjs";

const env = pageServerAndBrowser();
const LAPTOP = { width: 1366, height: 900 };
const PHONE = { width: 390, height: 844 };
const SIZES = [["laptop", LAPTOP], ["phone", PHONE]];
const AXE = readFileSync(path.join(ROOT, "tests/e2e/node_modules/axe-core/axe.min.js"), "utf8");
const FILES = ["fashion-coat.png", "fashion-bag.png"].map((f) => path.join(ROOT, "www/samples", f));

/** A page in a fresh context. axe-core is evaluated into it, so the context bypasses the
 *  page's Content-Security-Policy (which the security tests check with it on). */
async function open(t, viewport, { touch = false } = {}) {
  const context = await env.browser.newContext({ viewport, bypassCSP: true, hasTouch: touch, isMobile: touch });
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(env.server.url);
  await waitText(page, "#result-status", /^Top \d+ for /);
  await idle(page);
  return page;
}

/** axe-core's WCAG 2.1 A and AA rules over the whole page: the violations, in words. */
async function axeViolations(page) {
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(AXE);
  const r = await page.evaluate(() => window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }));
  return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

/** Presses Tab (Shift+Tab with `back`) until `selector` matches the focused element; fails
 *  after `max` presses. Keyboard only: no click, no focus() from the test. */
async function tabTo(page, selector, { back = false, max = 300 } = {}) {
  for (let i = 0; i < max; i++) {
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
    await page.keyboard.press(back ? "Shift+Tab" : "Tab");
  }
  throw new Error(`${max} presses of ${back ? "Shift+Tab" : "Tab"} did not reach ${selector}`);
}

/** Whether the answer bar, where shown, overlaps the focused element. */
const barCoversFocus = (page) => page.evaluate(() => {
  const bar = document.querySelector("#answer-bar");
  const el = document.activeElement;
  if (bar.hidden || !el || el === document.body) return false;
  const b = bar.getBoundingClientRect();
  const u = el.getBoundingClientRect();
  return u.bottom > b.top && u.top < b.bottom && u.right > b.left && u.left < b.right;
});

/** Opens the first channel of the strip's second layer as a person does (a click), and
 *  waits until it is drawn. */
async function openChannel(page) {
  const thumb = page.locator("#network .thumb").nth(3);
  const label = await thumb.getAttribute("aria-label");
  await thumb.click();
  await page.waitForFunction((l) => !document.querySelector("#inspector").hidden &&
    document.querySelector("#inspector-canvas").getAttribute("aria-label").startsWith(l), label);
  return label;
}

for (const [size, viewport] of SIZES) {
  test(`${size}: a new image with a channel open leaves the page where it is, and reopens the channel`, async (t) => {
    const page = await open(t, viewport, { touch: size === "phone" });
    // a file of the person's first: the note under the answer for an image of unknown kind
    // appears now, so that the next file changes nothing above the channel
    await page.setInputFiles("#image-file", FILES[0]);
    await waitText(page, "#image-caption", /^fashion-coat\.png/);
    await idle(page);
    const label = await openChannel(page);
    // the person scrolls on until the channel is partly out of view at the top (where
    // bringing it "into view" would move the page), and reads; then a new image comes from
    // the file picker
    await page.evaluate(() => window.scrollBy(0, document.querySelector("#inspector-canvas").getBoundingClientRect().top + 60));
    await nextFrame(page);
    const y = await page.evaluate(() => window.scrollY);
    assert.ok(y > 0, "the channel lies below the page's top");
    assert.ok(await page.evaluate(() => document.querySelector("#inspector-canvas").getBoundingClientRect().top < 0), "the channel is partly out of view");
    await page.setInputFiles("#image-file", FILES[1]);
    await waitText(page, "#image-caption", /^fashion-bag\.png/);
    await idle(page);
    await page.waitForFunction((l) => !document.querySelector("#inspector").hidden &&
      document.querySelector("#inspector-canvas").getAttribute("aria-label").startsWith(l), label);
    await nextFrame(page);
    assert.equal(await page.evaluate(() => window.scrollY), y, "scrollY after the new image's answer, layers and channel");
    // the channel the person opened keeps the focus through the new image
    assert.equal(await page.evaluate(() => document.activeElement?.id), "inspector-canvas");
    await shot(page, `people-${size}-stays`);
  });

  test(`${size}: the answer bar points to the answer and steps aside from what is in use`, async (t) => {
    const page = await open(t, viewport, { touch: size === "phone" });
    // below the answer, nothing in use: the bar shows the answer and points up
    await page.evaluate(() => document.querySelector("#teach-panel").scrollIntoView({ block: "start" }));
    await page.waitForFunction(() => !document.querySelector("#answer-bar").hidden);
    assert.match(await page.textContent("#answer-bar"), /^.+ \d+\.\d% · the answer ↑$/);
    // a finger that lands on text to scroll uses nothing: the bar stays
    const text = await page.locator("#teach-panel .hint").first().boundingBox();
    await page.mouse.move(text.x + 5, text.y + 5);
    await page.mouse.down();
    await page.mouse.up();
    await nextFrame(page);
    assert.equal(await page.isVisible("#answer-bar"), true, "a touch on text hid the bar");
    // the channel, focused, at the bottom of the screen where the bar sits: the bar steps aside
    await openChannel(page);
    await page.evaluate(() => document.querySelector("#inspector-canvas").scrollIntoView({ block: "end" }));
    await nextFrame(page);
    assert.equal(await page.evaluate(() => document.activeElement?.id), "inspector-canvas");
    assert.equal(await barCoversFocus(page), false, "the bar covers the focused channel");
    // where the channel lies under the bar's place (a phone's single column), the bar is hidden;
    // scrolled up out of the bar's way, the bar shows again
    const under = await page.evaluate(() => {
      const c = document.querySelector("#inspector-canvas").getBoundingClientRect();
      return c.bottom > innerHeight - 60 && c.left < innerWidth / 2 + 40 && c.right > innerWidth / 2 - 40;
    });
    if (under) {
      assert.equal(await page.isHidden("#answer-bar"), true, "the bar shows over the channel");
      await page.evaluate(() => window.scrollBy(0, document.querySelector("#inspector-canvas").getBoundingClientRect().bottom - innerHeight / 2));
      await page.waitForFunction(() => !document.querySelector("#answer-bar").hidden);
    }
    // a unit tapped there: still nothing covered
    const box = await page.locator("#inspector-canvas").boundingBox();
    await page.mouse.click(box.x + box.width / 2, box.y + box.height - 4);
    await waitText(page, "#unit-status", /^(?!Computing).*receptive field/);
    // the boxes' colours are said beside the image they are drawn on, on screen with it
    // (on a phone the unit's words lie below the channel)
    const legend = await page.$eval("#view-legend", (l) => ({ shown: !l.hidden, top: l.getBoundingClientRect().top, bottom: l.getBoundingClientRect().bottom }));
    assert.ok(legend.shown && legend.top >= 0 && legend.bottom <= viewport.height, `the legend at ${JSON.stringify(legend)}`);
    assert.match(await page.textContent("#view-legend"), /the unit's receptive field[\s\S]*its fields at earlier layers[\s\S]*its effective field/);
    assert.equal(await barCoversFocus(page), false, "the bar covers the tapped channel");
    // and scrolled away from it, to the top: the answer is below (on the phone) or in view
    await page.evaluate(() => window.scrollTo(0, 0));
    await nextFrame(page);
    await nextFrame(page);
    const below = await page.evaluate(() => document.querySelector("#timings").getBoundingClientRect().top > innerHeight);
    if (below) assert.match(await page.textContent("#answer-bar"), /· the answer ↓$/);
    else assert.equal(await page.isHidden("#answer-bar"), true, "the answer is in view: no bar");
    await shot(page, `people-${size}-bar`);
  });
}

test("arrow keys on the model picker start no download; Enter loads the model chosen", async (t) => {
  const page = await open(t, LAPTOP);
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  const catalog = await page.evaluate(() => fetch("models/catalog.json").then((r) => r.json()).then((c) => c.models));
  const downloads = catalog.filter((m) => !m.bundled);
  assert.ok(downloads.length > 0, "the catalog lists downloads");
  const status = await page.textContent("#model-status");
  await page.focus("#model-select");
  // down over every entry, the downloads (VGG16, 528 MiB) among them
  for (let i = 0; i < catalog.length; i++) await page.keyboard.press("ArrowDown");
  await nextFrame(page);
  const passed = await page.$eval("#model-select", (s) => s.value);
  assert.ok(downloads.some((m) => m.id === passed), `the picker rests on a download (${passed})`);
  assert.deepEqual(requests.filter((u) => /\.onnx(\?|$)/.test(u)), [], "no model file was requested");
  assert.equal(await page.textContent("#model-status"), status, "the model status is as it was");
  assert.equal(await page.isVisible("#model-load"), true, "a Load button is offered");
  assert.match(await page.textContent("#model-pick-hint"), /^Enter or Load loads .* \(\d+(\.\d)? MiB, a download\)\.$/);
  // up to a bundled one, and Enter: that one loads
  const depth = catalog.find((m) => m.bundled && m.id.startsWith("depth-"));
  while ((await page.$eval("#model-select", (s) => s.value)) !== depth.id) await page.keyboard.press("ArrowUp");
  assert.deepEqual(requests.filter((u) => /\.onnx(\?|$)/.test(u)), [], "still nothing requested");
  await page.keyboard.press("Enter");
  await waitText(page, "#model-status", new RegExp(`^Loaded ${depth.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`), 120_000);
  assert.equal(await page.isHidden("#model-load"), true);
});

test("keyboard only: a sample, its answer, a channel, a unit's field, teaching two classes and the trained answer", { timeout: 300_000 }, async (t) => {
  const page = await open(t, LAPTOP);
  const fashion = (name) => `#samples-fashion .sample[aria-label^="${name}"]`;
  // a sample, by Tab and Enter; it is marked as the one picked
  await tabTo(page, fashion("Sandal"));
  await page.keyboard.press("Enter");
  await waitText(page, "#result-status", /^Top \d+ for Sandal/);
  assert.equal(await page.getAttribute(fashion("Sandal"), "aria-current"), "true");
  await idle(page);
  // a channel of the strip: focus moves into the opened channel
  await tabTo(page, "#network .thumb");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.activeElement?.id === "inspector-canvas");
  // unit by unit with the arrow keys, each announced with its position and value
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("ArrowDown");
  await waitText(page, "#inspector-caption", /^Unit \(/);
  const caption = await page.textContent("#inspector-caption");
  const [, y, x] = caption.match(/^Unit \((\d+), (\d+)\) of (\d+)×(\d+), value [\d.e+-]+\. Enter shows its field\.$/) ?? [];
  assert.ok(y, `the caption announces the unit: ${caption}`);
  await page.keyboard.press("Enter");
  await waitText(page, "#unit-status", new RegExp(`unit \\(${y}, ${x}\\): receptive field \\d+×\\d+ px`));

  // teaching: focus goes to the class name, then to what was pressed, never to the page's start
  await tabTo(page, "#teach-start");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.activeElement?.id === "teach-class-name", null, { timeout: 120_000 });
  for (const name of ["shoes", "tops"]) {
    await page.keyboard.type(name);
    await page.keyboard.press("Enter");
    await page.locator(`#teach-classes li[data-name="${name}"]`).waitFor();
  }
  const addShown = '#teach-classes li[data-name="shoes"] [data-action="+ image shown"]';
  await tabTo(page, addShown);
  await page.keyboard.press("Enter");
  await waitText(page, '#teach-classes li[data-name="shoes"] .count', /^1 image$/, 60_000);
  assert.equal(await page.evaluate((s) => document.activeElement?.matches(s), addShown), true, "focus stays on the button pressed");
  // back up to the images: another sample, then the tray under the image teaches it
  await tabTo(page, fashion("T-shirt"), { back: true });
  await page.keyboard.press("Enter");
  await waitText(page, "#result-status", /^Top \d+ for T-shirt/);
  const tray = '#teach-tray-buttons [data-name="tops"]';
  await tabTo(page, tray);
  // teaching beside the image: its "+" button lies within one screen of the image
  for (const [, viewport] of SIZES) {
    await page.setViewportSize(viewport);
    const gap = await page.evaluate((s) => document.querySelector(s).getBoundingClientRect().bottom -
      document.querySelector("#image-canvas").getBoundingClientRect().top, tray);
    assert.ok(gap > 0 && gap <= viewport.height, `the tray's button is ${gap} px below the image's top at ${viewport.width} px`);
  }
  await page.setViewportSize(LAPTOP);
  await page.keyboard.press("Enter");
  await waitText(page, '#teach-classes li[data-name="tops"] .count', /^1 image$/, 60_000);
  assert.equal(await page.evaluate((s) => document.activeElement?.matches(s), tray), true, "focus stays on the tray's button");
  await tabTo(page, "#teach-train");
  await page.keyboard.press("Enter");
  await waitText(page, "#teach-report", /^Trained /, 60_000);
  // the taught answer beside the model's, in the answer section
  await waitText(page, "#taught-answer", /^Your classes, for T-shirt[^:]*: tops \d+\.\d% · shoes \d+\.\d% \(\d+ ms\)\. They know only your 2 classes/);
  assert.equal(await page.evaluate(() => document.activeElement?.id), "teach-train", "focus stays on Train");
  await shot(page, "people-keyboard-trained");
  // axe in the trained state, at both sizes
  for (const [size, viewport] of SIZES) {
    await page.setViewportSize(viewport);
    assert.deepEqual(await axeViolations(page), [], `axe-core, teaching trained, ${size}`);
  }
});

for (const [size, viewport] of SIZES) {
  test(`${size}: axe-core finds no WCAG 2.1 A/AA violation at first open, with a channel and unit open, and with an error shown`, async (t) => {
    const page = await open(t, viewport, { touch: size === "phone" });
    assert.deepEqual(await axeViolations(page), [], "first open");
    await openChannel(page);
    await page.keyboard.press("Enter");
    await waitText(page, "#unit-status", /^(?!Computing).*receptive field/);
    assert.deepEqual(await axeViolations(page), [], "a channel and a unit open");
    await page.check("#saliency");
    // saliency over the unit's boxes: the words say both
    await waitText(page, "#unit-status", /^Red: the saliency of .*The yellow and blue boxes are still the chosen unit's receptive fields/);
    await page.setInputFiles("#model-file", { name: "broken.onnx", mimeType: "application/octet-stream", buffer: Buffer.from("not a model") });
    await waitText(page, "#model-status", /^Could not load broken\.onnx: .*The previous model is still loaded\./, 60_000);
    assert.deepEqual(await axeViolations(page), [], "an error shown");
    await shot(page, `people-${size}-axe-error`);
  });
}
