// @ts-check
// Which build of the wasm module a worker should run, decided from what the browser
// allows. Pure: the worker hands in the facts, so the rule is testable in Node.
//
// Builds (folders next to worker.js; build.sh makes them, the npm package ships only pkg):
//   pkg-threads   relaxed SIMD (fused multiply-add in tract's matmul kernel, a dot product in
//                 the int8 kernels) and threads on shared memory, on 1 thread or more; its
//                 memory is shared, so it needs a cross-origin isolated page
//   pkg           one thread, SIMD128: runs wherever WebAssembly SIMD does
// (why there is no relaxed build without threads: the README's "Threads, SIMD and the two builds")

/** A module that uses `f32x4.relaxed_madd` and nothing else of note: valid exactly where
 *  the browser implements relaxed SIMD. */
export const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // one type: () -> v128
  0x03, 0x02, 0x01, 0x00, // one function of that type
  0x0a, 0x13, 0x01, 0x11, 0x00, // its body, no locals:
  0x41, 0x00, 0xfd, 0x11, 0x41, 0x00, 0xfd, 0x11, 0x41, 0x00, 0xfd, 0x11, // 3x i32x4.splat(0)
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd
  0x0b,
]);

/** @typedef {"pkg-threads" | "pkg"} BuildName  a build's folder */

/** The builds, fastest first.  @type {BuildName[]} */
export const BUILDS = ["pkg-threads", "pkg"];

/** onnxruntime-web's default thread count, so that the two compare like for like. */
export function defaultThreads(cores) {
  return Math.min(4, Math.ceil((cores || 1) / 2));
}

/** Throws unless `threads` is null (the default rule) or a whole number from 1 to 256. */
export function checkThreads(threads) {
  if (threads != null && !(Number.isInteger(threads) && threads >= 1 && threads <= 256)) {
    throw new Error(`threads must be a whole number from 1 to 256, got ${threads}`);
  }
}

/**
 * @param {{isolated: boolean, cores: number, relaxedSimd: boolean, threads?: number | null,
 *   build?: string | null}} facts  `threads`: what the user asked for (null: the default
 *   rule); `build`: one of BUILDS, to run that one or fail (null: the best that loads)
 * @returns {{threads: number, candidates: BuildName[], notes: string[]}} the builds to try, best
 *   first (each may be missing: the next one is tried), the threads to run on if the
 *   threaded build loads, and why any better choice was not taken, in words
 */
export function chooseBuild({ isolated, cores, relaxedSimd, threads = null, build = null }) {
  const notes = [];
  checkThreads(threads);
  if (build != null) {
    // one build, asked for by name (benchmarks, tests): no fallback
    const named = BUILDS.find((b) => b === build);
    if (!named) throw new Error(`build must be one of ${BUILDS.join(", ")}, got ${JSON.stringify(build)}`);
    return { threads: named === "pkg-threads" ? threads ?? defaultThreads(cores) : 1, candidates: [named], notes: [`build ${named} asked for`] };
  }
  let want = threads ?? defaultThreads(cores);
  if (!isolated) {
    if (want > 1) notes.push("one thread: the page is not cross-origin isolated (it needs COOP and COEP headers)");
    else if (relaxedSimd) notes.push("SIMD128: relaxed SIMD comes with the threaded build, which needs a cross-origin isolated page");
    want = 1;
  }
  if (!relaxedSimd) {
    // the threaded build uses relaxed SIMD; a browser with threads but without it runs
    // on one thread rather than fail
    notes.push(isolated && want > 1 ? "one thread: the threaded build needs relaxed SIMD, which this browser lacks"
      : "SIMD128 without relaxed SIMD: this browser lacks it");
    want = 1;
  }
  if (want === 1 && threads == null && isolated && relaxedSimd && cores > 1) {
    notes.push(`one thread by default on ${cores} cores (onnxruntime-web's rule: half the cores, at most 4)`);
  }
  // the threaded build on one thread runs on the calling thread alone (no pool)
  /** @type {BuildName[]} */
  const candidates = isolated && relaxedSimd ? ["pkg-threads", "pkg"] : ["pkg"];
  return { threads: want, candidates, notes };
}
