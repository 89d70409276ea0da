// Every int8 kernel each wasm build can run, forced in turn (`forceInt8Kernel`), gives every
// int8 fixture its build's default answer bit for bit, and the plan says it ran that kernel
// (`info().matmulKernels`). vgg-wasm's 16-bit dot product kernels (src/model/int8_mmm.rs)
// are among them in both builds, and run by default wherever the relaxed ones do not; its
// relaxed-dot kernels in the threaded (relaxed-SIMD) build, on one thread, on every engine:
// where the engine's relaxed dot product saturates or reads bytes as signed (x86 without
// VNNI, Arm) they are forced only on the fixture whose 7-bit weights cannot reach that
// (zoo_vgg16_odd_int8_qdq_7bit), elsewhere on all. Chromium runs twice: as it is, and with
// V8's use of AVX, AVX2, FMA and AVX-VNNI off (how an older x86 lowers the relaxed
// instructions), so each CPU's lowering is met here.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { launch, openPage, ROOT, serve } from "./harness.mjs";

const manifest = JSON.parse(readFileSync(path.join(ROOT, "tests/fixtures/gen/manifest.json"), "utf8"))
  .filter((fx) => /int8/.test(fx.name));
const SEVEN_BIT = "zoo_vgg16_odd_int8_qdq_7bit";
// V8's x64 code generator flags (`--no-enable-…`); an engine without one of these features
// lowers the relaxed instructions another way
const OLD_X86 = "--js-flags=--no-enable-avx --no-enable-avx2 --no-enable-fma3 --no-enable-avx-vnni";

let site;
before(async () => { site = await serve(ROOT); });
after(() => site?.close());

async function everyKernel(args) {
  const browser = await launch({ args });
  try {
    const page = await openPage(browser, `${site.url}/tests/e2e/blank.html`);
    return await page.evaluate(async ({ fixtures, sevenBit }) => {
      const all = { rows: [], dot: {}, defaults: [] };
      for (const build of ["pkg", "pkg-threads"]) {
        // each build in a worker of its own (int8-kernels.worker.js): the threaded build's
        // memory is shared, which only a worker may wait on; on one thread it needs no pool
        const worker = new Worker("/tests/e2e/int8-kernels.worker.js", { type: "module" });
        const r = await new Promise((resolve, reject) => {
          worker.onmessage = ({ data }) => (data.error ? reject(new Error(`${build}: ${data.error}`)) : resolve(data));
          worker.onerror = (e) => reject(new Error(`${build}: ${e.message}`));
          worker.postMessage({ build, fixtures, sevenBit });
        });
        worker.terminate();
        all.rows.push(...r.rows);
        all.defaults.push(...r.defaults);
        all.dot[build] = r.dot;
      }
      return all;
    }, { fixtures: manifest, sevenBit: SEVEN_BIT });
  } finally {
    await browser.close();
  }
}

// the threaded build's default int8 kernels in the first pass: where they were vgg-wasm's
// relaxed ones (an engine whose relaxed dot product is exact), V8 without AVX-VNNI must make
// them the 16-bit ones, or the flags did not take
let firstPass = null;
for (const [label, args] of [["as it is", []], ["with V8's AVX, AVX2, FMA and AVX-VNNI off", [OLD_X86]]]) {
  test(`every int8 kernel of each build answers alike, Chromium ${label}`, async () => {
    const { rows, dot, defaults } = await everyKernel(args);
    if (firstPass === null) firstPass = dot["pkg-threads"];
    else if (firstPass.startsWith("vgg-wasm's relaxed")) assert.doesNotMatch(dot["pkg-threads"], /^vgg-wasm's relaxed/, "V8's flags did not take");
    console.log(`int8 kernels by default: ${JSON.stringify(dot)}`);
    // by default vgg-wasm's relaxed kernels run only where the engine's dot product keeps them
    // exact; anywhere else its 16-bit ones
    for (const d of defaults) {
      if (!d.exactDot) {
        assert.ok(!d.kernels.some((k) => k.startsWith("vgg_wasm_i8_dot")), `${d.build} ${d.fixture} runs ${d.kernels}`);
        assert.ok(d.kernels.some((k) => k.startsWith("vgg_wasm_i8_i16dot")), `${d.build} ${d.fixture} runs ${d.kernels}`);
      }
    }
    const ran = new Set(rows.map((r) => `${r.build}: ${r.name}`));
    console.log(`forced: ${[...ran].join(", ")}`);
    // both builds run tract's kernel and vgg-wasm's 16-bit 8x8 and 16x1; the threaded one also
    // vgg-wasm's relaxed 8x8 and 16x1, at least on the 7-bit fixture
    // (tract's wasm_i32_4x4 in both: the independent check where the defaults are vgg-wasm's
    // 16-bit kernels, whose forced runs could only agree with themselves)
    for (const build of ["pkg", "pkg-threads"]) {
      for (const k of ["wasm_i32_4x4", "vgg_wasm_i8_i16dot_8x8", "vgg_wasm_i8_i16dot_16x1"]) assert.ok(ran.has(`${build}: ${k}`), `${build}: ${k} was never forced`);
    }
    for (const k of ["vgg_wasm_i8_dot_8x8", "vgg_wasm_i8_dot_16x1"]) {
      assert.ok(ran.has(`pkg-threads: ${k}`), `${k} was never forced`);
    }
    for (const r of rows) {
      assert.ok(r.refused.includes('"no_such_kernel"') && r.names.every((n) => r.refused.includes(n)), r.refused);
      // (tract's portable ones included: "generic_i32_*")
      const int8 = r.kernels.filter((k) => r.names.includes(k) || k.includes("_i32_"));
      assert.deepEqual(int8, [r.name], `${r.build} ${r.fixture}: forced ${r.name}, the plan runs ${r.kernels}`);
      if (r.differ) console.log(`${r.build} ${r.fixture} ${r.name}: ${r.differ} of ${r.n} outputs differ from ${r.auto}`);
      assert.equal(r.differ, 0, `${r.build} ${r.fixture}: kernel ${r.name} differs from the default ${r.auto}`);
    }
    console.log(`${rows.length} forced runs, every one bit for bit the default answer`);
  });
}
