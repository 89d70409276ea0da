// The hosted page's list of its own files for offline use, DIR/offline.json, which the
// page's service worker (www/coi-sw.js) caches at install: the page, its scripts and styles,
// the catalog, the samples' thumbnails and the Fashion-MNIST samples, and the SIMD128
// build's glue (pkg/vgg_wasm.js), which the engine's worker imports on every visit whichever
// build it then runs. Not on it, because a visit uses one of each and they are large: the
// .wasm builds and the other builds' glue, the models, the full-size photos; the page asks
// the worker to keep the ones it used after its first answer, and what else it fetches later
// is kept as it passes (only once the service worker controls the page: a worker started
// before that fetched its imports past it). Also marks DIR/index.html with the list's name
// (data-offline), which is what turns the offline cache on.
//
//     node tools/offline_list.mjs DIR
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

const dir = process.argv[2];
if (!dir) throw new Error("usage: node tools/offline_list.mjs DIR");
const LIST = "offline.json";
const samples = JSON.parse(readFileSync(path.join(dir, "samples/samples.json"), "utf8"));
const photos = new Set(samples.filter((s) => s.thumb).map((s) => `samples/${s.file}`));
const left = (f) => /\.(br|gz)$/.test(f) || f === "_headers" || f === LIST || /^pkg[^/]*\/vgg_wasm_bg\.wasm$/.test(f) || /^pkg-[^/]+\/vgg_wasm\.js$/.test(f) ||
  /^models\/.*\.onnx$/.test(f) || photos.has(f);

/** Every file under `d`, relative to `root`, with / separators. */
function files(d, root = d) {
  return readdirSync(d).flatMap((name) => {
    const p = path.join(d, name);
    return statSync(p).isDirectory() ? files(p, root) : [path.relative(root, p).split(path.sep).join("/")];
  });
}

const kept = files(dir).filter((f) => !left(f)).sort();
writeFileSync(path.join(dir, LIST), JSON.stringify({ files: ["./", ...kept] }, null, 1) + "\n");
const index = path.join(dir, "index.html");
const html = readFileSync(index, "utf8");
if (!html.includes('<html lang="en">')) throw new Error(`${index}: no <html lang="en"> to mark`);
writeFileSync(index, html.replace('<html lang="en">', `<html lang="en" data-offline="${LIST}">`));
const bytes = kept.reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
console.log(`    offline list: ${kept.length} files, ${(bytes / 1024).toFixed(0)} KiB, cached at the first visit`);
