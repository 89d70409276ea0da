// The npm package's convenience layer, shared by the browser and Node entry points: the
// heavy work stays in Rust; this only fetches bytes and starts the wasm module once.
import init, { Vgg as WasmVgg } from "./pkg/vgg_wasm.js";
import { fetchBytes } from "./fetch.js";

let started = null;

/** Starts the wasm module once; `wasm` is what wasm-bindgen's `init` accepts. */
export function startOnce(wasm) {
  started ??= init(wasm === undefined ? undefined : { module_or_path: wasm });
  return started;
}

/** wasm-bindgen's class, with one difference: a call on an instance after `free()` throws
 *  "this Vgg was freed …" instead of wasm-bindgen's "null pointer passed to rust". */
class Vgg extends WasmVgg {
  /** wasm-bindgen's `Vgg.create`, answering an instance of this class. */
  static async create(bytes, options) {
    return Object.setPrototypeOf(await WasmVgg.create(bytes, options), Vgg.prototype);
  }
}
for (const name of Object.getOwnPropertyNames(WasmVgg.prototype)) {
  const d = Object.getOwnPropertyDescriptor(WasmVgg.prototype, name);
  if (name === "constructor" || name === "free" || name.startsWith("__")) continue;
  const alive = (self) => {
    if (self.__wbg_ptr === 0) throw new Error(`this Vgg was freed: ${name} cannot be used after free(); load the model again with new Vgg(bytes)`);
  };
  if (typeof d.value === "function") {
    Object.defineProperty(Vgg.prototype, name, { ...d, value(...args) { alive(this); return d.value.apply(this, args); } });
  } else if (d.get) {
    Object.defineProperty(Vgg.prototype, name, { ...d, get() { alive(this); return d.get.call(this); } });
  }
}

/** `new Vgg(bytes, options)`, or `Vgg.create` (asynchronous: WebGPU where it can) when
 *  `options.backend` is given. */
export function load(bytes, options) {
  return options?.backend ? Vgg.create(bytes, options) : new Vgg(bytes, options);
}

export { fetchBytes, Vgg };
