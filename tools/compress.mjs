// Precompressed copies for a static host: beside each file of DIR worth it (the .wasm builds,
// scripts, JSON, HTML, CSS, SVG; a model's float weights compress by under 10%, and are
// left), a .br (brotli, quality 9, a 16 MiB window) and a .gz (gzip -9). A host that serves
// them (tools/serve.py does, as nginx's gzip_static and brotli_static do) sends the page's
// first visit compressed without compressing it on every request. Quality 9, not 11:
// measured here on the 16.5 MB relaxed-SIMD .wasm, 11 gave 2.28 MB in 178 s and 9 gave
// 2.68 MB in 5.5 s (gzip -9: 3.88 MB in 0.5 s); two builds at 11 would add about 6
// minutes to every clean build. Each result is kept in .cache/compressed by its content's
// sha256 and made once.
//
//     node tools/compress.mjs DIR
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CACHE = path.join(ROOT, ".cache/compressed");
const WORTH = /\.(wasm|js|mjs|onnx|json|html|css|svg|txt)$/;
const MIN_BYTES = 1024; // smaller files gain less than a request's headers
const MIN_GAIN = 0.9; // a copy at least 10% smaller than the file, or none (PNG and JPEG are not tried)
const PROBE_BYTES = 1024 ** 2; // a fast gzip of this much says whether the rest is worth it

const dir = process.argv[2];
if (!dir) throw new Error("usage: node tools/compress.mjs DIR");
mkdirSync(CACHE, { recursive: true });

/** Every file under `d`. */
function* files(d) {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (e.isFile()) yield p;
  }
}

const encoders = {
  br: (bytes) => brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 9,
      [constants.BROTLI_PARAM_LGWIN]: 24,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  }),
  gz: (bytes) => gzipSync(bytes, { level: 9 }),
};

let before = 0, after = 0, made = 0;
const t0 = performance.now();
for (const file of [...files(dir)]) {
  if (!WORTH.test(file) || statSync(file).size < MIN_BYTES) continue;
  const bytes = readFileSync(file);
  const probe = bytes.subarray(0, PROBE_BYTES);
  if (gzipSync(probe, { level: 1 }).length > MIN_GAIN * probe.length) continue; // weights: noise to gzip
  const sha = createHash("sha256").update(bytes).digest("hex");
  for (const [ext, encode] of Object.entries(encoders)) {
    const cached = path.join(CACHE, `${sha}.${ext}`);
    if (!existsSync(cached)) {
      writeFileSync(cached, encode(bytes));
      made += 1;
    }
    const out = readFileSync(cached);
    if (out.length > MIN_GAIN * bytes.length) continue;
    writeFileSync(`${file}.${ext}`, out);
    if (ext === "br") {
      before += bytes.length;
      after += out.length;
    }
  }
}
const mb = (n) => (n / 1024 ** 2).toFixed(1);
console.log(`    precompressed: ${mb(before)} MiB of files to ${mb(after)} MiB of .br (and .gz beside them); ` +
  `${made} made now in ${((performance.now() - t0) / 1000).toFixed(0)} s, the rest from .cache/compressed`);
