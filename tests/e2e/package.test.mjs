// The npm package, from its tarball alone, in a temporary project: the Node example prints
// the bundled Fashion-VGG's answer, a Vite build of the browser example classifies in
// headless Chromium, and a TypeScript example of the whole API type-checks.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { before, test } from "node:test";
import { launch, openPage, ROOT, serve, waitText } from "./harness.mjs";

const NPM = path.join(ROOT, "target/npm");
const card = JSON.parse(readFileSync(path.join(ROOT, "training/results/fashion-vgg.json"), "utf8"));
// a bundled Fashion-MNIST sample, and what the training script predicted for it
const sample = JSON.parse(readFileSync(path.join(ROOT, "www/samples/samples.json"), "utf8"))
  .find((s) => s.kind === "fashion" && s.label === "Ankle boot");
const expected = card.labels[card.subset_predictions[Number(sample.source.match(/image (\d+)/)[1])]];
let project;
const run = (cmd, args, cwd = project) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

before(() => {
  const tgz = readdirSync(NPM).find((f) => /^vgg-wasm-.*\.tgz$/.test(f));
  assert.ok(tgz, "./build.sh pack writes target/npm/vgg-wasm-<version>.tgz");
  project = mkdtempSync(path.join(tmpdir(), "vgg-npm-"));
  for (const ex of ["node", "vite", "typed"]) cpSync(path.join(ROOT, "examples", ex), path.join(project, ex), { recursive: true });
  // tools from the registry at the versions tests/e2e/consumer's lock file holds, then the
  // tarball beside them; nothing from the workspace
  for (const f of ["package.json", "package-lock.json"]) copyFileSync(path.join(ROOT, "tests/e2e/consumer", f), path.join(project, f));
  run("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
  run("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error", path.join(NPM, tgz)]);
  for (const f of ["fashion-vgg.onnx", "fashion-vgg.json"]) copyFileSync(path.join(ROOT, "www/models", f), path.join(project, f));
  copyFileSync(path.join(ROOT, "www/samples", sample.file), path.join(project, "sample.png"));
});

test("npm pack ships only what a user needs", () => {
  const [{ files }] = JSON.parse(run("npm", ["pack", "--dry-run", "--json", "./vgg-wasm"], NPM));
  const names = files.map((f) => f.path).sort();
  assert.deepEqual(names, ["CHANGELOG.md", "README.md", "builds.js", "common.js", "engine.js", "fetch.js", "index.d.ts", "index.js", "node.js", "package.json",
    "pkg/vgg_wasm.d.ts", "pkg/vgg_wasm.js", "pkg/vgg_wasm_bg.wasm", "pkg/vgg_wasm_bg.wasm.d.ts", "protocol.js", "worker.js",
    "worker/boot.js", "worker/held.js", "worker/inspect.js", "worker/models.js", "worker/teach.js", "worker/visualize.js"]);
});

test("the tarball would publish (npm publish --dry-run), with the README's Changes as its changelog", () => {
  const tgz = readdirSync(NPM).find((f) => /^vgg-wasm-.*\.tgz$/.test(f));
  // npm checks the tarball and its package.json as the registry would, and uploads nothing;
  // a registry that does not answer, so that the check does not depend on the network or on
  // what is published already (npm asks the registry for the published versions even then)
  const offline = ["--registry=http://127.0.0.1:9", "--fetch-retries=0"];
  const out = execFileSync("npm", ["publish", "--dry-run", "--json", ...offline, tgz], { cwd: NPM, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  // (keyed by package name in npm 11's output)
  const json = JSON.parse(out.slice(out.indexOf("{")));
  const published = json["vgg-wasm"] ?? json;
  assert.equal(published.name, "vgg-wasm");
  assert.ok(published.files.some((f) => f.path === "CHANGELOG.md"));
  const changelog = readFileSync(path.join(NPM, "vgg-wasm/CHANGELOG.md"), "utf8");
  const version = JSON.parse(readFileSync(path.join(NPM, "vgg-wasm/package.json"), "utf8")).version;
  assert.match(changelog, new RegExp(`^# Changelog\n\n### ${version.replace(/\./g, "\\.")} `), "the changelog starts with this version");
  // what the README's npm section names is in the package: its entry points and types
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("### Use it from npm"), readme.indexOf("### API reference"));
  for (const name of ["index.d.ts", "pkg/vgg_wasm.d.ts", "index.js"]) {
    assert.ok(section.includes(name), `the README's npm section names ${name}`);
    assert.ok(published.files.some((f) => f.path === name), `${name} is in the tarball`);
  }
  const index = readFileSync(path.join(NPM, "vgg-wasm/index.js"), "utf8");
  for (const name of ["ready", "fromUrl", "fetchBytes"]) {
    assert.ok(section.includes(`\`${name}\``), `the README's npm section names ${name}`);
    assert.match(index, new RegExp(`export[^;]*\\b${name}\\b`), `index.js exports ${name}`);
  }
});

test("the package's Vgg says so when it is used after free()", () => {
  const script = `
    import { readFile } from "node:fs/promises";
    import { ready, Vgg } from "vgg-wasm";
    await ready();
    const vgg = new Vgg(await readFile("fashion-vgg.onnx"), JSON.parse(await readFile("fashion-vgg.json", "utf8")));
    const before = vgg.info.head.classes;
    vgg.free();
    for (const call of [() => vgg.info, () => vgg.classify(new Uint8Array(4), 1, 1), () => vgg.layers()]) {
      try { call(); console.log("no error"); } catch (e) { console.log(e.constructor.name + ": " + e.message); }
    }
    console.log(before);`;
  writeFileSync(path.join(project, "freed.mjs"), script);
  const lines = run("node", ["freed.mjs"]).trim().split("\n");
  assert.deepEqual(lines, [
    "Error: this Vgg was freed: info cannot be used after free(); load the model again with new Vgg(bytes)",
    "Error: this Vgg was freed: classify cannot be used after free(); load the model again with new Vgg(bytes)",
    "Error: this Vgg was freed: layers cannot be used after free(); load the model again with new Vgg(bytes)",
    "10",
  ]);
});

test("the package's Vgg.create falls back to the CPU in Node, saying why, and answers asynchronously", () => {
  const script = `
    import { readFile } from "node:fs/promises";
    import { fromUrl, ready, Vgg } from "vgg-wasm";
    await ready();
    const options = JSON.parse(await readFile("fashion-vgg.json", "utf8"));
    const vgg = await Vgg.create(await readFile("fashion-vgg.onnx"), { ...options, backend: "auto" });
    console.log(vgg.backend.name + ": " + vgg.backend.reason);
    const rgba = new Uint8Array(32 * 32 * 4).fill(200);
    const [a, b] = [await vgg.classifyAsync(rgba, 32, 32, 1), vgg.classify(rgba, 32, 32, 1)];
    console.log(a.timings.backend, a[0].index === b[0].index && a[0].probability === b[0].probability);
    const viaUrl = await fromUrl("fashion-vgg.onnx", { options: { ...options, backend: "cpu" } });
    console.log(viaUrl.backend.name, viaUrl instanceof Vgg);
    vgg.free();
    try { vgg.info; } catch (e) { console.log(e.message.split(":")[0]); }
    try { await Vgg.create(await readFile("fashion-vgg.onnx"), { ...options, backend: "webgpu" }); } catch (e) { console.log(e.constructor.name + ": " + e.message); }`;
  writeFileSync(path.join(project, "backend.mjs"), script);
  const lines = run("node", ["backend.mjs"]).trim().split("\n");
  assert.deepEqual(lines, [
    "cpu: WebGPU is not available here (navigator.gpu is missing)",
    "cpu true",
    "cpu true",
    "this Vgg was freed",
    "Error: options.backend \"webgpu\": WebGPU is not available here (navigator.gpu is missing)",
  ]);
});

test("the Node example prints the Fashion-VGG's top-5", () => {
  const out = run("node", ["node/classify.mjs", "sample.png", "fashion-vgg.onnx"]);
  console.log(out.trim());
  const lines = out.trim().split("\n");
  assert.equal(lines.length, 6);
  assert.match(lines[0], new RegExp(`%  ${expected} \\(class \\d\\)$`));
  const err = (() => { try { run("node", ["node/classify.mjs", "sample.png", "sample.png"]); } catch (e) { return e; } })();
  assert.equal(err.status, 1);
  assert.match(err.stderr, /error: loading the model: decoding ONNX protobuf/);
});

test("a Vite build of the browser example classifies in Chromium", async () => {
  const app = path.join(project, "vite");
  mkdirSync(path.join(app, "public"), { recursive: true });
  for (const f of ["fashion-vgg.onnx", "fashion-vgg.json", "sample.png"]) copyFileSync(path.join(project, f), path.join(app, "public", f));
  run(path.join(project, "node_modules/.bin/vite"), ["build", "--logLevel", "warn"], app);
  const server = await serve(path.join(app, "dist"));
  const browser = await launch();
  try {
    const page = await openPage(browser, server.url);
    await waitText(page, "#status", /Inference took/);
    const first = await page.textContent("#result li");
    assert.match(first, new RegExp(`^${expected}: \\d+\\.\\d%$`));
  } finally {
    await browser.close();
    server.close();
  }
});

test("a TypeScript example of the whole API type-checks", () => {
  run(path.join(project, "node_modules/.bin/tsc"), ["--noEmit", "-p", "typed"]);
});
