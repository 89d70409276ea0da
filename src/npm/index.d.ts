// Types of the convenience layer; everything else comes from the generated vgg_wasm.d.ts,
// whose doc comments are the crate's `///` comments.
import { Vgg, VggOptions } from "./pkg/vgg_wasm.js";

export * from "./pkg/vgg_wasm.js";

/** Bytes received so far; `total` is 0 when the server does not say. */
export interface Progress { loaded: number; total: number; }

export interface FromUrlOptions {
  /** Called as the model arrives. */
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** Passed to `new Vgg(bytes, options)`: preprocessing, labels, activations; with
   *  `backend` ("auto", "webgpu" or "cpu"), to `Vgg.create`, which can use WebGPU. */
  options?: VggOptions;
}

/** Loads the wasm module once. In browsers, an optional URL, Response, bytes or module. */
export declare function ready(wasm?: URL | string | Response | BufferSource | WebAssembly.Module): Promise<unknown>;

/** Fetches (or, in Node, reads) an ONNX model and loads it. Throws an Error naming the problem. */
export declare function fromUrl(url: string | URL, options?: FromUrlOptions): Promise<Vgg>;

/** Fetches `url` as bytes with progress (`total` is the Content-Length, else
 *  `expectedBytes`, else 0). A failure is an Error whose `stage` says where it failed:
 *  "connect" (offline, refused or blocked by CORS), "status" (an HTTP error), "cancelled"
 *  (the signal aborted) or "transfer" (the download broke off). */
export declare function fetchBytes(url: string | URL, options?: { onProgress?: (p: Progress) => void; signal?: AbortSignal; expectedBytes?: number }): Promise<Uint8Array>;
