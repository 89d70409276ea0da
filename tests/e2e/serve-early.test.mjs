// `./build.sh serve` serves the page as soon as the SIMD128 build is ready and compiles the
// threaded (relaxed-SIMD) build in the background, leaving a file BUILDING in its folder
// meanwhile: the page runs the build it has and says why not a faster one;
// once the faster build lands, a reload takes it.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { launch, openPage, ROOT, serve, shot, waitText } from "./harness.mjs";

const WWW = path.join(ROOT, "www");
let site, browser, dir;
before(async () => {
  // www/ as serve leaves it mid-way: every file as built, but the threaded build's folder
  // holds only BUILDING
  dir = mkdtempSync(path.join(tmpdir(), "vgg-serve-early-"));
  for (const name of readdirSync(WWW)) {
    if (name === "pkg-threads") {
      mkdirSync(path.join(dir, name));
      writeFileSync(path.join(dir, name, "BUILDING"), "since 12:00:00\n");
    } else {
      symlinkSync(path.join(WWW, name), path.join(dir, name));
    }
  }
  site = await serve(dir);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  site?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("while the threaded build compiles, the page runs the SIMD128 build and says why", async () => {
  const page = await openPage(browser, `${site.url}/?threads=2`);
  await waitText(page, "#model-status", /^Loaded /);
  const line = await page.textContent("#engine-runtime");
  assert.match(line, /SIMD128/, line);
  assert.match(line, /the threaded build is still compiling \(since 12:00:00\): reload the page when it lands/, line);
  await shot(page, "serve-early");
  await page.close();
  // the threaded build lands: a reload runs it
  rmSync(path.join(dir, "pkg-threads"), { recursive: true });
  symlinkSync(path.join(WWW, "pkg-threads"), path.join(dir, "pkg-threads"));
  const again = await openPage(browser, `${site.url}/?threads=2`);
  await waitText(again, "#engine-runtime", /relaxed SIMD, 2 threads/);
  assert.doesNotMatch(await again.textContent("#engine-runtime"), /still compiling/);
  await again.close();
});
