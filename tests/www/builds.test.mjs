// The worker's choice of build (www/builds.js), in Node.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { chooseBuild, defaultThreads, RELAXED_SIMD_PROBE } from "../../www/builds.js";
import { runtimeSummary } from "../../www/format.js";

test("threads follow onnxruntime-web's default and need cross-origin isolation", () => {
  assert.deepEqual([1, 2, 3, 4, 8, 16].map(defaultThreads), [1, 1, 2, 2, 4, 4]);
  const isolated = { isolated: true, cores: 8, relaxedSimd: true };
  assert.deepEqual(chooseBuild(isolated), { threads: 4, candidates: ["pkg-threads", "pkg"], notes: [] });
  assert.equal(chooseBuild({ ...isolated, threads: 2 }).threads, 2);
  const plain = chooseBuild({ ...isolated, isolated: false });
  assert.deepEqual(plain.candidates, ["pkg"]);
  assert.equal(plain.threads, 1);
  assert.deepEqual(plain.notes, ["one thread: the page is not cross-origin isolated (it needs COOP and COEP headers)"]);
  // one thread asked for on a page that is not isolated: relaxed SIMD is the threaded
  // build's, so the SIMD128 build runs, and the page says why
  assert.deepEqual(chooseBuild({ ...isolated, isolated: false, threads: 1 }),
    { threads: 1, candidates: ["pkg"], notes: ["SIMD128: relaxed SIMD comes with the threaded build, which needs a cross-origin isolated page"] });
  // two cores: one thread by default, as onnxruntime-web, on the threaded (relaxed) build
  // without a pool, and the page says why
  const two = chooseBuild({ ...isolated, cores: 2 });
  assert.deepEqual([two.threads, two.candidates], [1, ["pkg-threads", "pkg"]]);
  assert.match(two.notes[0], /one thread by default on 2 cores/);
  assert.equal(chooseBuild({ ...isolated, cores: 2, threads: 1 }).notes.length, 0);
});

test("without relaxed SIMD the baseline build runs, on one thread", () => {
  const r = chooseBuild({ isolated: true, cores: 8, relaxedSimd: false });
  assert.deepEqual(r, { threads: 1, candidates: ["pkg"], notes: ["one thread: the threaded build needs relaxed SIMD, which this browser lacks"] });
  // neither isolated nor relaxed SIMD: one reason, not two
  assert.deepEqual(chooseBuild({ isolated: false, cores: 2, relaxedSimd: false }).notes, ["SIMD128 without relaxed SIMD: this browser lacks it"]);
  assert.throws(() => chooseBuild({ isolated: true, cores: 2, relaxedSimd: true, threads: 0 }), /threads must be a whole number from 1 to 256, got 0/);
  assert.throws(() => chooseBuild({ isolated: true, cores: 2, relaxedSimd: true, threads: 1.5 }), /got 1.5/);
});

test("a build asked for by name is the only candidate", () => {
  const facts = { isolated: false, cores: 8, relaxedSimd: false };
  assert.deepEqual(chooseBuild({ ...facts, build: "pkg" }), { threads: 1, candidates: ["pkg"], notes: ["build pkg asked for"] });
  assert.equal(chooseBuild({ ...facts, build: "pkg-threads", threads: 3 }).threads, 3);
  assert.throws(() => chooseBuild({ ...facts, build: "pkg-fast" }), /build must be one of pkg-threads, pkg, got "pkg-fast"/);
});

test("the relaxed SIMD probe validates exactly where relaxed SIMD is enabled", () => {
  // V8's flag turns relaxed SIMD on (Node 20) or off (where it has shipped): the same probe
  // both ways, whatever this Node's default
  const probe = `console.log(WebAssembly.validate(new Uint8Array(${JSON.stringify([...RELAXED_SIMD_PROBE])})))`;
  const run = (flags) => execFileSync(process.execPath, [...flags, "-e", probe], { encoding: "utf8" }).trim();
  assert.equal(run(["--experimental-wasm-relaxed-simd"]), "true");
  assert.equal(run(["--no-experimental-wasm-relaxed-simd"]), "false");
  // the same module with the relaxed instruction replaced by a SIMD128 one validates anywhere
  const plain = [...RELAXED_SIMD_PROBE];
  // (v128.bitselect, opcode 0x52, also three v128 operands, LEB128-encoded in two bytes)
  plain.splice(plain.length - 4, 3, 0xfd, 0xd2, 0x00);
  assert.equal(WebAssembly.validate(new Uint8Array(plain)), true);
});

test("the page says which build runs and why", () => {
  assert.equal(runtimeSummary({ build: "pkg-threads", threads: 2, isolated: true, notes: [] }),
    "Engine: relaxed SIMD, 2 threads, cross-origin isolated.");
  assert.equal(runtimeSummary({ build: "pkg", threads: 1, isolated: false, notes: ["one thread: the page is not cross-origin isolated (it needs COOP and COEP headers)"] }),
    "Engine: SIMD128, 1 thread (one thread: the page is not cross-origin isolated (it needs COOP and COEP headers)).");
});
