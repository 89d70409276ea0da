// The npm package's convenience layer, shared by the browser and Node entry points: the
// heavy work stays in Rust; this only fetches bytes and starts the wasm module once.
import init, { Vgg } from "./pkg/vgg_wasm.js";
import { fetchBytes } from "./fetch.js";

let started = null;

/** Starts the wasm module once; `wasm` is what wasm-bindgen's `init` accepts. */
export function startOnce(wasm) {
  started ??= init(wasm === undefined ? undefined : { module_or_path: wasm });
  return started;
}

export { fetchBytes, Vgg };
