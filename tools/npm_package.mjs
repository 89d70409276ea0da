// Assembles the npm package vgg-wasm in target/npm/vgg-wasm from the release build in
// www/pkg (wasm-pack --target web) and the convenience layer in src/npm; build.sh pack
// then runs `npm pack` on it. One .wasm serves browsers, bundlers and Node.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "target/npm/vgg-wasm");
const cargo = readFileSync(path.join(root, "Cargo.toml"), "utf8");
const field = (name) => cargo.match(new RegExp(`^${name} = "(.*)"`, "m"))[1];

// the worker's handlers (www/worker/), which worker.js imports
const WORKER_MODULES = readdirSync(path.join(root, "www", "worker")).filter((f) => f.endsWith(".js")).sort().map((f) => `worker/${f}`);

rmSync(out, { recursive: true, force: true });
mkdirSync(path.join(out, "pkg"), { recursive: true });
for (const f of ["vgg_wasm.js", "vgg_wasm.d.ts", "vgg_wasm_bg.wasm", "vgg_wasm_bg.wasm.d.ts"]) {
  copyFileSync(path.join(root, "www/pkg", f), path.join(out, "pkg", f));
}
for (const f of ["common.js", "index.js", "node.js", "index.d.ts"]) copyFileSync(path.join(root, "src/npm", f), path.join(out, f));
// the page's download helper, worker and its client: one copy, in www/, serves both
mkdirSync(path.join(out, "worker"));
for (const f of ["fetch.js", "worker.js", "engine.js", "protocol.js", "builds.js", ...WORKER_MODULES]) copyFileSync(path.join(root, "www", f), path.join(out, f));
copyFileSync(path.join(root, "README.md"), path.join(out, "README.md"));
// the changelog is the README's "Changes" section (one text, kept where the rest is)
const readme = readFileSync(path.join(root, "README.md"), "utf8");
const changes = readme.match(/^## Changes\n([\s\S]*?)(?=^## )/m);
if (!changes) throw new Error("README.md has no \"## Changes\" section for the package's CHANGELOG.md");
writeFileSync(path.join(out, "CHANGELOG.md"), `# Changelog\n${changes[1].replace(/^The npm package's .*\n\n/m, "")}`);

const pkg = {
  name: "vgg-wasm",
  version: field("version"),
  description: field("description"),
  license: field("license"),
  repository: { type: "git", url: field("repository") },
  keywords: ["vgg", "onnx", "wasm", "webassembly", "tract", "imagenet", "cnn", "receptive-field", "saliency"],
  type: "module",
  main: "./node.js",
  module: "./index.js",
  browser: "./index.js",
  types: "./index.d.ts",
  exports: {
    ".": {
      types: "./index.d.ts",
      node: "./node.js",
      browser: "./index.js",
      default: "./index.js",
    },
    "./engine": "./engine.js",
    // the worker's requests and replies as JSDoc types (nothing runs): for `import("vgg-wasm/protocol").LoadReply`
    "./protocol": "./protocol.js",
    "./worker": "./worker.js",
    "./pkg/vgg_wasm_bg.wasm": "./pkg/vgg_wasm_bg.wasm",
    "./package.json": "./package.json",
  },
  files: ["index.js", "node.js", "common.js", "fetch.js", "engine.js", "protocol.js", "worker.js", "builds.js", ...WORKER_MODULES, "index.d.ts", "pkg/vgg_wasm.js", "pkg/vgg_wasm.d.ts", "pkg/vgg_wasm_bg.wasm",
    "pkg/vgg_wasm_bg.wasm.d.ts", "README.md", "CHANGELOG.md"],
  // worker.js answers messages as soon as it is imported: a bundler must keep it
  sideEffects: ["./worker.js"],
  engines: { node: ">=18" },
};
writeFileSync(path.join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
console.log(`assembled ${out} (vgg-wasm ${pkg.version})`);
