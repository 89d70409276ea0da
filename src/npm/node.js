// vgg-wasm for Node (18 or newer): the same API, with the .wasm read from disk and models
// from a path or a URL.
import { readFile } from "node:fs/promises";
import { fetchBytes, load, startOnce, Vgg } from "./common.js";

export { Vgg, fetchBytes };
export * from "./pkg/vgg_wasm.js";

/** Loads the wasm module (once) from the package's own .wasm file. */
export async function ready() {
  return startOnce(await readFile(new URL("./pkg/vgg_wasm_bg.wasm", import.meta.url)));
}

/** Loads an ONNX model from a file path, or fetches it from an http(s) URL. */
export async function fromUrl(pathOrUrl, { onProgress, signal, options } = {}) {
  const remote = /^https?:\/\//.test(String(pathOrUrl));
  const [bytes] = await Promise.all([
    remote ? fetchBytes(pathOrUrl, { onProgress, signal }) : readFile(pathOrUrl),
    ready(),
  ]);
  return load(bytes, options);
}
