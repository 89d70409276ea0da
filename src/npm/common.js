// The npm package's convenience layer, shared by the browser and Node entry points: the
// heavy work stays in Rust; this only fetches bytes and starts the wasm module once.
import init, { Vgg } from "./pkg/vgg_wasm.js";

let started = null;

/** Starts the wasm module once; `wasm` is what wasm-bindgen's `init` accepts. */
export function startOnce(wasm) {
  started ??= init(wasm === undefined ? undefined : { module_or_path: wasm });
  return started;
}

/** Fetches `url` as bytes, reporting `{loaded, total}` (total 0 when unknown). */
export async function fetchBytes(url, { onProgress, signal } = {}) {
  const response = await fetch(url, { signal });
  if (!response.ok) throw new Error(`fetching ${url}: ${response.status} ${response.statusText}`);
  const total = Number(response.headers.get("content-length")) || 0;
  if (!response.body || !onProgress) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    onProgress({ loaded, total });
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return bytes;
}

export { Vgg };
