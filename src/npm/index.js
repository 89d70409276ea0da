// vgg-wasm for browsers and bundlers. The .wasm file is found next to this module
// (`new URL(..., import.meta.url)`), which Vite, webpack 5 and plain <script type="module"> resolve.
import { fetchBytes, load, startOnce, Vgg } from "./common.js";

export { Vgg, fetchBytes };
export * from "./pkg/vgg_wasm.js";

/** Loads the wasm module (once). Optional `wasm`: a URL, Response, bytes or WebAssembly.Module. */
export function ready(wasm) {
  return startOnce(wasm);
}

/** Fetches an ONNX model with progress and loads it: `await fromUrl(url, {onProgress, options})`. */
export async function fromUrl(url, { onProgress, signal, options } = {}) {
  const [bytes] = await Promise.all([fetchBytes(url, { onProgress, signal }), ready()]);
  return load(bytes, options);
}
