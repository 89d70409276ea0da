// The first five minutes, as a new user meets the page at 1366×900 and on a 390×844 phone:
// a first answer without a click, samples that fit the model, a word when they do not,
// answers in view, the image beside the channel being clicked, views that follow the image,
// only the latest of quick clicks run, honest status on a slow connection and offline, and
// a guessed preprocessing the user can see, change and save.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { idle, nextFrame, openPage, ROOT, shot, slowNetwork, waitText, pageServerAndBrowser } from "./harness.mjs";

const env = pageServerAndBrowser();
const SAMPLES = JSON.parse(readFileSync(path.join(ROOT, "www/samples/samples.json"), "utf8"));
const FASHION = SAMPLES.filter((s) => s.kind === "fashion");
const WIDE = { width: 1366, height: 900 };
const PHONE = { width: 390, height: 844 };
const re = (text) => new RegExp(text.replace(/[()/.*+?[\]]/g, "\\$&"));

async function open(t, viewport = WIDE) {
  const page = await openPage(env.browser, env.server.url, viewport);
  t.after(() => page.close());
  return page;
}

const firstAnswer = (page, timeout) => waitText(page, "#result-status", /^Top \d+ for /, timeout);

async function topLabel(page) {
  await page.locator("#predictions li").first().waitFor();
  return page.textContent("#predictions li .label");
}

/** The picker's options whose text is wider than the picker (less its arrow): cut off. */
const cutOptions = (page) => page.$eval("#model-select", (sel) => {
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = getComputedStyle(sel).font;
  return [...sel.options].filter((o) => o.value && ctx.measureText(o.text).width > sel.clientWidth - 28).map((o) => o.text);
});

/** Whether `selector`'s box is at least partly on screen. */
const onScreen = (page, selector) => page.$eval(selector, (el) => {
  const r = el.getBoundingClientRect();
  return r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth && r.width > 0;
});

test("first open: a sample the default model knows answers by itself; photos are marked, and said to be out of its reach", async (t) => {
  const t0 = Date.now();
  const page = await open(t);
  await firstAnswer(page);
  console.log(`first answer on first open (local server, 1366×900): ${Date.now() - t0} ms after navigation`);
  // the fitting sample, without a click, and the clothing samples first
  assert.match(await page.textContent("#result-status"), re(`Top 5 for ${FASHION[0].name}:`));
  assert.equal(await topLabel(page), FASHION[0].label);
  assert.deepEqual(await page.$$eval(".sample-group", (gs) => gs.map((g) => [g.dataset.domain, g.classList.contains("mismatch")])),
    [["fashion", false], ["photo", true]]);
  assert.match(await page.textContent(".sample-group.mismatch h3"), /not what Fashion-VGG knows/);
  assert.equal(await page.isHidden("#fit-note"), true);
  assert.deepEqual(await cutOptions(page), [], "model names cut off in the picker");
  // the grey model's view is drawn grey
  assert.equal(await page.getAttribute("#view-canvas", "data-grey"), "1");
  // a photo says why the clothing answer is no answer
  await page.click("#samples-photo .sample >> nth=0");
  await waitText(page, "#result-status", /Top 5 for Chelsea/);
  assert.match(await page.textContent("#fit-note"),
    /^Fashion-VGG knows 10 kinds of clothing, .*; this is a photo, .*For photos, choose an ImageNet VGG/);
  assert.equal(await onScreen(page, "#fit-note"), true);
  const grey = await page.$eval("#view-canvas", (c) => {
    const d = c.getContext("2d").getImageData(c.width / 2, c.height / 2, 1, 1).data;
    return d[0] === d[1] && d[1] === d[2];
  });
  assert.ok(grey, "the cat is drawn as the grey model sees it");
  await shot(page, "30-first-open-photo-on-clothing");
  // an image that does not decode leaves the answer and its heading as they were
  await page.setInputFiles("#image-file", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not an image") });
  await waitText(page, "#image-status", /notes\.txt is not an image .*the previous one stays/);
  assert.match(await page.textContent("#result-status"), /Top 5 for Chelsea/);
  assert.equal(await page.locator("#predictions li").count(), 5);
  // back to clothing: no note
  await page.click("#samples-fashion .sample >> nth=1");
  await waitText(page, "#result-status", re(`Top 5 for ${FASHION[1].name}`));
  assert.equal(await page.isHidden("#fit-note"), true);
});

test("on a phone, a tapped sample's answer is on screen, and panels, chart and table fit", async (t) => {
  const page = await open(t, PHONE);
  await firstAnswer(page);
  // at the top of the page the answer lies far below: the bar says it
  assert.equal(await onScreen(page, "#predictions"), false, "the answer is below the fold at first open");
  await page.locator("#answer-bar").waitFor({ state: "visible" });
  assert.match(await page.textContent("#answer-bar"), re(`${FASHION[0].label} `));
  // a tapped sample: its answer on screen, in the list or in the bar
  await page.click("#samples-fashion .sample >> nth=7");
  await waitText(page, "#result-status", re(`Top 5 for ${FASHION[7].name}`));
  const top = await topLabel(page);
  // the bar's visibility follows a layout (an IntersectionObserver): wait for either place,
  // bounded, rather than a fixed time
  const onScreenNow = async () => ((await onScreen(page, "#answer-bar")) && re(`${top} `).test(await page.textContent("#answer-bar"))) ||
    (await onScreen(page, "#predictions li"));
  for (const t0 = Date.now(); !(await onScreenNow()) && Date.now() - t0 < 5000;) await nextFrame(page);
  assert.ok(await onScreenNow(), "the answer is on screen after the tap");
  await shot(page, "31-phone-answer-bar");
  await page.click("#answer-bar");
  await page.waitForFunction(() => {
    const r = document.querySelector("#predictions").getBoundingClientRect();
    return r.top >= 0 && r.top < innerHeight;
  });
  await page.locator("#answer-bar").waitFor({ state: "hidden" });
  assert.deepEqual(await cutOptions(page), [], "model names cut off in the picker");
  // nothing wider than the screen; panels 4 and on keep the page's margins
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), "no sideways scrolling");
  for (const id of ["#network-panel", "#paper-panel", "#depth-panel"]) {
    const [left, right] = await page.$eval(id, (el) => [el.getBoundingClientRect().left, innerWidth - el.getBoundingClientRect().right]);
    assert.ok(left >= 8 && right >= 8, `${id} touches the screen's edge (${left}, ${right})`);
  }
  // the depth table fits, paper column included
  assert.ok(await page.$eval(".table-scroll", (d) => d.scrollWidth <= d.clientWidth), "the depth table is cut off");
  // and no number or word in it is broken across lines: a cell's value is one word per
  // line at most (a number like "154,026" is never split)
  const broken = await page.$$eval("#depth-table td", (tds) => tds.flatMap((td) => {
    const range = document.createRange();
    range.selectNodeContents(td);
    const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
    const words = td.textContent.trim().split(/\s+/).length;
    return lines.size > words ? [`${td.dataset.label}: ${td.textContent} on ${lines.size} lines`] : [];
  }));
  assert.deepEqual(broken, [], "numbers or words broken in the depth table");
  // the tapped Fashion-MNIST image (28×28) is shown enlarged, crisp, to a readable size
  const image = await page.$eval("#image-canvas", (c) => ({ w: c.getBoundingClientRect().width, rendering: getComputedStyle(c).imageRendering }));
  assert.ok(image.w >= 168, `the 28×28 image is shown ${image.w} px wide`);
  assert.equal(image.rendering, "pixelated");
  // the chart's text is drawn at 12 px on the phone and none of it is clipped
  const chart = await page.$eval("#rf-chart", (svg) => {
    const [, , W, H] = svg.getAttribute("viewBox").split(" ").map(Number);
    const scale = svg.getBoundingClientRect().width / W;
    const texts = [...svg.querySelectorAll("text")];
    return {
      px: Math.min(...texts.map((t) => Number(t.getAttribute("font-size")) * scale)),
      clipped: texts.map((t) => t.getBBox()).filter((b) => b.x < 0 || b.y < 0 || b.x + b.width > W || b.y + b.height > H).length,
    };
  });
  assert.ok(chart.px >= 11, `chart text ${chart.px.toFixed(1)} px`);
  assert.equal(chart.clipped, 0);
  // the image stays pinned above the strip while a channel and a unit are clicked
  await page.locator("#network .layer >> nth=3").locator(".thumb").first().click();
  await waitText(page, "#inspector-caption", /^conv2_1, channel \d+/);
  await page.locator("#inspector-canvas").scrollIntoViewIfNeeded();
  assert.equal(await onScreen(page, "#view-canvas"), true, "the image is on screen beside the channel");
  await page.locator("#inspector-canvas").click();
  await page.waitForFunction(() => document.querySelector("#view-canvas").dataset.field !== "");
  assert.equal(await onScreen(page, "#view-canvas"), true);
  await shot(page, "32-phone-unit");
});

test("at 1366 px every layer of VGG16 is on screen, the image stays beside the channel, and views follow the image", async (t) => {
  const page = await open(t);
  await firstAnswer(page);
  await page.selectOption("#model-select", "vgg16-conv-base");
  await waitText(page, "#model-status", /Loaded VGG16 convolutional base/, 120_000);
  // photos first now, clothing marked
  assert.equal(await page.getAttribute(".sample-group >> nth=0", "data-domain"), "photo");
  await page.click("#samples-photo .sample >> nth=0");
  await waitText(page, "#result-status", /for Chelsea.* returns feature maps of shape \[1, 512, 7, 10\]/, 120_000);
  await page.waitForFunction(() => document.querySelectorAll("#network .layer").length === 18, null, { timeout: 120_000 });
  const strip = await page.$eval("#network", (n) => ({
    scroll: n.scrollWidth - n.clientWidth,
    right: Math.max(...[...n.querySelectorAll(".layer")].map((l) => l.getBoundingClientRect().right)),
  }));
  assert.ok(strip.scroll <= 0 && strip.right <= WIDE.width, `the strip runs off screen: ${JSON.stringify(strip)}`);
  // pool5's channel, and the image beside it
  const pool5 = page.locator("#network .layer", { hasText: "pool5" });
  await pool5.locator(".thumb").first().click();
  await waitText(page, "#inspector-caption", /^pool5, channel \d+: 7×10 units/);
  const caption = await page.textContent("#inspector-caption");
  await page.locator("#inspector-canvas").scrollIntoViewIfNeeded();
  assert.equal(await onScreen(page, "#view-canvas"), true, "the image with its boxes is on screen beside the channel");
  // the right-most unit
  const box = await page.locator("#inspector-canvas").boundingBox();
  await page.mouse.click(box.x + box.width - 2, box.y + box.height / 2);
  await waitText(page, "#unit-status", /pool5, channel \d+, unit \(\d, 9\)/);
  assert.equal(await onScreen(page, "#view-canvas"), true);
  await shot(page, "33-wide-vgg16-unit");
  // a square image: pool5 is 7×7 now; the same channel opens on it, nothing of the old one stays
  const astronaut = SAMPLES.findIndex((s) => /Astronaut/.test(s.name));
  await page.click(`#samples-photo .sample >> nth=${astronaut}`);
  await waitText(page, "#result-status", /for Astronaut.* returns feature maps of shape \[1, 512, 7, 7\]/, 120_000);
  await waitText(page, "#inspector-caption", re(caption.replace("7×10", "7×7").split(":")[0] + ": 7×7 units"), 120_000);
  assert.equal(await page.getAttribute("#view-canvas", "data-field"), "", "the old unit's box is gone");
  assert.doesNotMatch(await page.textContent("#unit-status"), /unit \(/);
  // (the page stayed at the samples: the person scrolls back down to the channel)
  await page.locator("#inspector-canvas").scrollIntoViewIfNeeded();
  const again = await page.locator("#inspector-canvas").boundingBox();
  await page.mouse.click(again.x + again.width - 2, again.y + again.height / 2);
  await waitText(page, "#unit-status", /pool5, channel \d+, unit \(\d, 6\)/);
  // three photos clicked during one run: the first runs, then only the last
  await page.evaluate(() => {
    window.runs = 0;
    new MutationObserver(() => {
      if (document.querySelector("#result-status").textContent === "Running…") window.runs += 1;
    }).observe(document.querySelector("#result-status"), { childList: true, characterData: true, subtree: true });
  });
  // the coffee, then, once its run is under way, the rocket and the cat in one go
  await page.click("#samples-photo .sample >> nth=1");
  await page.waitForFunction(() => document.querySelector("#result-panel").getAttribute("aria-busy") === "true");
  await page.evaluate(() => {
    for (const i of [2, 0]) document.querySelectorAll("#samples-photo .sample")[i].click();
  });
  await waitText(page, "#result-status", /for Chelsea/, 120_000);
  await idle(page);
  assert.equal(await page.evaluate(() => document.querySelectorAll("#network .layer").length), 18);
  assert.equal(await page.evaluate(() => window.runs), 2, "the coffee runs, the rocket is skipped, the cat runs");
});

test("a unit no pixel changes says so instead of promising a red field", async (t) => {
  const page = await open(t);
  await firstAnswer(page);
  await page.locator("#network .thumb").first().waitFor();
  // black units of the pool layers (after ReLU): some are exactly 0
  let said = null;
  for (const layer of ["pool3", "pool2", "pool1"]) {
    const thumbs = page.locator("#network .layer", { hasText: layer }).locator(".thumb");
    for (let c = 0; c < (await thumbs.count()) && !said; c++) {
      await thumbs.nth(c).click();
      await waitText(page, "#inspector-caption", re(`${layer}, channel`));
      const black = await page.$eval("#inspector-canvas", (cv) => {
        const d = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
        const out = [];
        for (let i = 0; i < cv.width * cv.height; i++) if (d[4 * i] === 0) out.push([i % cv.width, Math.floor(i / cv.width)]);
        return { w: cv.width, h: cv.height, out: out.slice(0, 4) };
      });
      for (const [x, y] of black.out) {
        const b = await page.locator("#inspector-canvas").boundingBox();
        await page.mouse.click(b.x + ((x + 0.5) * b.width) / black.w, b.y + ((y + 0.5) * b.height) / black.h);
        await page.waitForFunction(() => /receptive field \d+×\d+ px/.test(document.querySelector("#unit-status").textContent));
        const text = await page.textContent("#unit-status");
        const heat = await page.getAttribute("#view-canvas", "data-heat");
        // the words match the drawing, always
        assert.equal(/ Red: /.test(text), heat === "1", text);
        assert.equal(/No red: no pixel changes this unit/.test(text), heat === "", text);
        if (heat === "") {
          said = text;
          break;
        }
      }
    }
  }
  assert.ok(said, "no unit without a field was found among the black units of pool1-3");
});

test("only the latest of quick clicks runs, and a channel opened follows the image", async (t) => {
  const page = await open(t);
  await firstAnswer(page);
  await page.locator("#network .layer >> nth=3").locator(".thumb").first().click();
  await waitText(page, "#inspector-caption", /^conv2_1, channel \d+: 16×16 units/);
  const caption = await page.textContent("#inspector-caption");
  const before = await page.$eval("#inspector-canvas", (c) => c.toDataURL());
  await page.locator("#inspector-canvas").click();
  await page.waitForFunction(() => document.querySelector("#view-canvas").dataset.field !== "");
  await page.evaluate(() => {
    window.runs = 0;
    new MutationObserver(() => {
      if (document.querySelector("#result-status").textContent === "Classifying…") window.runs += 1;
    }).observe(document.querySelector("#result-status"), { childList: true, characterData: true, subtree: true });
    // five samples, clicked in one go
    for (const b of [...document.querySelectorAll("#samples-fashion .sample")].slice(2, 7)) b.click();
  });
  await waitText(page, "#result-status", re(`Top 5 for ${FASHION[6].name}`));
  await waitText(page, "#inspector-caption", re(caption));
  await idle(page);
  assert.equal(await page.evaluate(() => window.runs), 1, "only the last of five runs");
  assert.notEqual(await page.$eval("#inspector-canvas", (c) => c.toDataURL()), before, "the channel shows the new image");
  assert.equal(await page.getAttribute("#view-canvas", "data-field"), "", "the old unit's box is gone");
  assert.equal(await page.textContent("#unit-status"), "");
});

test("at 20 Mbit/s the engine's download shows its progress, a click meanwhile is queued, and the first answer comes", async (t) => {
  const context = await env.browser.newContext({ viewport: WIDE });
  t.after(() => context.close());
  const page = await context.newPage();
  await slowNetwork(context, page);
  const sizes = [];
  page.on("requestfinished", async (r) => {
    const s = await r.sizes().catch(() => null);
    if (s) sizes.push(s.responseBodySize + s.responseHeadersSize);
  });
  const seen = new Set();
  await page.exposeFunction("seen", (t) => seen.add(t));
  await page.addInitScript(() => document.addEventListener("DOMContentLoaded", () => {
    for (const id of ["engine-progress-text", "model-status", "result-status"]) {
      const el = document.getElementById(id);
      new MutationObserver(() => window.seen(`${id}: ${el.textContent}`)).observe(el, { childList: true, characterData: true, subtree: true });
    }
  }));
  const t0 = Date.now();
  await page.goto(env.server.url);
  // a photo clicked while the engine downloads (once the catalog has named the model)
  await page.locator("#model-select option[value=fashion-vgg]").waitFor({ state: "attached" });
  await page.locator("#samples-photo .sample").first().waitFor();
  await page.click("#samples-photo .sample >> nth=0");
  await waitText(page, "#result-status", /Top 5 for Chelsea/, 120_000);
  const ms = Date.now() - t0;
  // every download finished (their sizes are counted below)
  await idle(page);
  await page.waitForLoadState("networkidle");
  const total = sizes.reduce((a, b) => a + b, 0);
  console.log(`first answer at 20 Mbit/s: ${ms} ms after navigation; transferred ${(total / 1e6).toFixed(2)} MB (${sizes.length} requests)`);
  const log = [...seen];
  assert.ok(log.some((l) => /^engine-progress-text: Downloading the engine \(WebAssembly\): [\d.]+ MiB of [\d.]+ MiB \(([1-9]|[1-9]\d)%\)$/.test(l)),
    `no progress of the engine's download:\n${log.join("\n")}`);
  assert.ok(log.some((l) => /^model-status: .*waiting for the engine, whose WebAssembly is still downloading/.test(l)), log.join("\n"));
  assert.ok(log.some((l) => /^result-status: Queued: Chelsea the cat runs as soon as Fashion-VGG .* has loaded\./.test(l)), log.join("\n"));
  assert.ok(!log.some((l) => /Now choose a model/.test(l)), "a click while a model loads is not told to choose one");
  assert.match(await page.textContent("#engine-runtime"), /of WebAssembly: downloaded in \d+ ms, compiled \d+ ms after the last byte/);
  assert.match(await page.textContent("#model-status"), /^Loaded Fashion-VGG .*: downloaded in \d+ ms, parsed and optimised in \d+ ms\.$/);
  assert.match(await page.textContent("#timings"), /inference \d+\.\d ms/);
  await shot(page, "34-slow-network");
});

test("offline, a zoo model says so in words, and the loaded model stays", async (t) => {
  const context = await env.browser.newContext({ viewport: WIDE });
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(env.server.url);
  await firstAnswer(page);
  await context.setOffline(true);
  await page.selectOption("#model-select", "vgg16-7");
  await waitText(page, "#model-status", /Could not load VGG16 \(ImageNet\)/);
  const status = await page.textContent("#model-status");
  assert.match(status, /you are offline, and this model is not in this browser's cache yet \(the bundled models work offline\)/);
  assert.doesNotMatch(status, /CORS/);
  assert.match(status, /The previous model is still loaded\./);
  await page.click("#samples-fashion .sample >> nth=4");
  await waitText(page, "#result-status", re(`Top 5 for ${FASHION[4].name}`));
  await shot(page, "35-offline-zoo");
});

test("a model without a sidecar shows its guessed preprocessing, takes the user's, and saves it as a sidecar", async (t) => {
  const page = await open(t);
  await firstAnswer(page);
  const onnx = path.join(ROOT, "www/models/fashion-vgg.onnx");
  const sidecar = JSON.parse(readFileSync(path.join(ROOT, "www/models/fashion-vgg.json"), "utf8"));
  await page.setInputFiles("#model-file", onnx);
  await waitText(page, "#model-status", /Loaded fashion-vgg\.onnx/);
  assert.equal(await page.$eval("#preprocess-panel", (d) => d.open), true, "a guess is shown open");
  assert.match(await page.textContent("#preprocess-summary"), /guessed/);
  assert.match(await page.textContent("#preprocess-detected"), /channelOrder gray: the input has 1 channel/);
  // the guess: ImageNet's mean and std, resize and crop to 32 with no border
  assert.equal(await page.inputValue("[name=cropH]"), "32");
  await shot(page, "36-preprocessing-guessed");
  await waitText(page, "#result-status", re(`Top 5 for ${FASHION[0].name}`));
  // the training's own preprocessing, typed in field by field (each change is tried at once;
  // a crop without its border is refused until the border follows): the image runs again
  const p = sidecar.preprocess;
  const fields = { scale: p.scale, mean0: p.mean[0], mean1: p.mean[1], mean2: p.mean[2], std0: p.std[0], std1: p.std[1], std2: p.std[2],
    resize: p.resize, cropH: p.crop[0], cropW: p.crop[1], pad: p.pad };
  for (const [name, value] of Object.entries(fields)) await page.fill(`[name=${name}]`, String(value));
  await waitText(page, "#preprocess-status", /^Applied/);
  await waitText(page, "#view-caption", /32×32 pixels, .*padded by 2/);
  await waitText(page, "#result-status", re(`Top 5 for ${FASHION[0].name}`));
  // no labels came with the file: the classes are numbered
  assert.equal(await topLabel(page), `class ${sidecar.labels.indexOf(FASHION[0].label)}`);
  // a crop the model cannot take is refused by name; the form shows what runs
  await page.fill("[name=cropH]", "100");
  await waitText(page, "#preprocess-status", /^Not applied: .*preprocess\.crop \[100, 28\].*The previous preprocessing stays/);
  assert.equal(await page.inputValue("[name=cropH]"), "100", "the user's value stays to be fixed");
  await page.click("#preprocess-undo");
  assert.equal(await page.inputValue("[name=cropH]"), "28");
  // another layout loads the model again; one its input cannot have is refused, and the
  // model runs on as it was
  await page.selectOption("[name=layout]", "nhwc");
  await waitText(page, "#preprocess-status", /^Not applied: fashion-vgg\.onnx could not be loaded with the NHWC layout .*it runs on with NCHW\.$/);
  assert.match(await page.textContent("#model-status"), /^Could not load fashion-vgg\.onnx: .*The previous model is still loaded\.$/);
  assert.equal(await page.inputValue("[name=layout]"), "nchw");
  // saved as a sidecar, it loads with the model next time and is no longer a guess
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#preprocess-save")]);
  assert.equal(download.suggestedFilename(), "fashion-vgg.json");
  const saved = JSON.parse(readFileSync(await download.path(), "utf8"));
  for (const k of ["resize", "crop", "pad", "channelOrder"]) assert.deepEqual(saved.preprocess[k], p[k], k);
  // the numbers as the crate holds them (f32)
  for (const k of ["scale", "mean", "std"]) {
    for (const [i, v] of [p[k]].flat().entries()) assert.ok(Math.abs([saved.preprocess[k]].flat()[i] - v) <= 1e-6 * Math.abs(v), `${k}: ${saved.preprocess[k]}`);
  }
  const file = path.join(path.dirname(await download.path()), "fashion-vgg.json");
  await download.saveAs(file);
  await page.setInputFiles("#model-file", [onnx, file]);
  await waitText(page, "#preprocess-summary", /^Preprocessing \(from fashion-vgg\.json\)$/);
  assert.match(await page.textContent("#model-status"), /^Loaded fashion-vgg\.onnx/);
  assert.equal(await page.$eval("#preprocess-panel", (d) => d.open), false);
  await shot(page, "37-preprocessing-from-saved-sidecar");
});
