// After a build: removes the name section from each build's .wasm (function names, 2 MB of
// the SIMD128 build and 19.5 MB of the threaded one, of use only in stack traces) and
// prints its download size raw, gzip and brotli as a host compressing on the fly sends it
// (gzip's default level, brotli quality 5: about a second in all, where quality 11 took
// 25 s a file on every build).
// Done here rather than with Cargo's `strip`, which also drops the target_features section
// wasm-bindgen reads. build.sh runs it; KEEP_NAMES=1 keeps the names.
//   node tools/sizes.mjs DIR...
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

/** The module without its "name" custom section; every other section byte for byte. */
export function withoutNames(wasm) {
  const leb = (i) => {
    let v = 0, shift = 0, b;
    do { b = wasm[i++]; v += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
    return [v, i];
  };
  const keep = [wasm.subarray(0, 8)];
  for (let i = 8; i < wasm.length;) {
    const start = i;
    const id = wasm[i];
    const [size, body] = leb(i + 1);
    i = body + size;
    if (id === 0) {
      const [len, name] = leb(body);
      if (new TextDecoder().decode(wasm.subarray(name, name + len)) === "name") continue;
    }
    keep.push(wasm.subarray(start, i));
  }
  return Buffer.concat(keep);
}

const MB = (n) => (n / 1e6).toFixed(2);
for (const dir of process.argv.slice(2)) {
  const file = path.join(dir, "vgg_wasm_bg.wasm");
  let wasm = readFileSync(file);
  if (!process.env.KEEP_NAMES) {
    const stripped = withoutNames(wasm);
    if (stripped.length !== wasm.length) writeFileSync(file, stripped);
    wasm = stripped;
  }
  const gz = gzipSync(wasm).length;
  const br = brotliCompressSync(wasm, { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_SIZE_HINT]: wasm.length } }).length;
  console.log(`    ${file}: ${MB(wasm.length)} MB, gzip ${MB(gz)} MB, brotli ${MB(br)} MB`);
}
