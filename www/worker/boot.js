// @ts-check
// The worker's start: the best build of the wasm module that loads here (builds.js), its
// .wasm streamed with progress, and its thread pool. The baseline build is imported
// statically so that bundlers always ship it.
import * as baseline from "../pkg/vgg_wasm.js";
import { chooseBuild, RELAXED_SIMD_PROBE } from "../builds.js";

const POOL_START_S = 20; // a thread pool that has not started after this long is given up
const PROGRESS_EVERY_MS = 100; // at most this often a download's progress is posted

/** @typedef {import("../protocol.js").Progress} Progress */

/**
 * The build's .wasm as a Response that reports its progress while it streams into the
 * compiler (WebAssembly.instantiateStreaming compiles during the download), and the times:
 * `downloadMs` until the last byte, `compileMs` from then until the module was ready.
 * @param {URL} url  @param {(p: Progress) => void} progress
 */
async function fetchWasm(url, progress) {
  const t0 = performance.now();
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: the server answered ${response.status} ${response.statusText}`);
  // a compressed transfer's Content-Length is not the byte count the stream gives
  const total = response.headers.get("content-encoding") ? 0 : Number(response.headers.get("content-length")) || 0;
  const load = { url: String(url), bytes: 0, downloadMs: null, compileMs: null };
  let posted = 0;
  const counted = response.body.pipeThrough(new TransformStream({
    transform(chunk, out) {
      load.bytes += chunk.byteLength;
      const now = performance.now();
      if (now - posted >= PROGRESS_EVERY_MS) {
        posted = now;
        progress({ what: "engine", loaded: load.bytes, total });
      }
      out.enqueue(chunk);
    },
    flush() {
      load.downloadMs = performance.now() - t0;
      progress({ what: "engine", loaded: load.bytes, total: total || load.bytes });
    },
  }));
  const done = () => {
    load.compileMs = performance.now() - t0 - load.downloadMs;
    return load;
  };
  return { response: new Response(counted, { headers: { "content-type": "application/wasm" } }), done };
}

/** Words for a build that `./build.sh serve` is still compiling (it leaves a file BUILDING in
 *  the build's folder meanwhile), or null.  @param {string} name */
async function stillCompiling(name) {
  const what = name === "pkg-threads" ? "the threaded build" : name;
  try {
    const r = await fetch(new URL(`../${name}/BUILDING`, import.meta.url), { cache: "no-store" });
    return r.ok ? `${what} is still compiling (${(await r.text()).trim()}): reload the page when it lands` : null;
  } catch {
    return null;
  }
}

/** Loads the best build that loads, and starts its thread pool. `progress` hears how the
 *  download of its .wasm goes.
 *  @param {import("./held.js").Held} held  the build goes into its `api` and `runtime`
 *  @param {{threads?: number | null, build?: string | null}} choice  @param {(p: Progress) => void} progress */
export async function boot(held, { threads = null, build = null }, progress) {
  const relaxedSimd = WebAssembly.validate(RELAXED_SIMD_PROBE);
  const isolated = self.crossOriginIsolated === true;
  const cores = navigator.hardwareConcurrency || 1;
  const plan = chooseBuild({ isolated, cores, relaxedSimd, threads, build });
  const notes = [...plan.notes];
  for (const name of plan.candidates) {
    try {
      /** @type {import("./held.js").Api} */
      const api = name === "pkg" ? baseline
        : await import(/* @vite-ignore */ /* webpackIgnore: true */ new URL(`../${name}/vgg_wasm.js`, import.meta.url).href);
      // the baseline's .wasm named literally, so that bundlers (Vite, webpack) ship it
      const url = name === "pkg" ? new URL("../pkg/vgg_wasm_bg.wasm", import.meta.url) : new URL(`../${name}/vgg_wasm_bg.wasm`, import.meta.url);
      let load = null;
      const wasm = await fetchWasm(url, progress).catch(() => null);
      if (wasm) {
        await api.default({ module_or_path: wasm.response });
        load = wasm.done();
      } else {
        // not where this file expects it (a bundler moved it): the glue's own URL, no progress
        await api.default();
      }
      let used = 1;
      if (name === "pkg-threads" && plan.threads > 1) {
        // a pool whose workers cannot start (blocked, or not isolated themselves) would
        // otherwise never answer: this build on one thread instead, with the reason (its
        // executor stays tract's single-threaded one until useThreads asks for more)
        let timer;
        const late = new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`its ${plan.threads} threads did not start within ${POOL_START_S} s`)), POOL_START_S * 1000);
        });
        try {
          await Promise.race([api.initThreadPool(plan.threads), late]);
          api.useThreads(plan.threads);
          used = plan.threads;
        } catch (e) {
          notes.push(`one thread: ${e.message ?? e}`);
        } finally {
          clearTimeout(timer);
        }
      }
      // (on one thread the threaded build needs no pool: its products run on this worker)
      held.api = api;
      held.runtime = { build: name, threads: used, relaxedSimd: name !== "pkg", isolated, cores, notes, load, int8Kernels: api.int8Kernels() };
      return held.runtime;
    } catch (e) {
      // a build this copy of the page or package does not ship, or one that fails here,
      // or one that `./build.sh serve` is still compiling
      notes.push((await stillCompiling(name)) ?? `${name} did not load (${e.message ?? e})`);
    }
  }
  throw new Error(`no build of the wasm module loaded: ${notes.join("; ")}`);
}
