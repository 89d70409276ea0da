// int8-kernels.test.mjs's work for one build, in a module worker: the threaded build's
// memory is shared, and only a worker may wait on it. Answers {rows, dot, defaults}.
self.onmessage = async ({ data: { build, fixtures, sevenBit } }) => {
  try {
    const bytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
    const api = await import(`/www/${build}/vgg_wasm.js`);
    await api.default();
    const rows = [];
    const defaults = [];
    // the engine's relaxed dot product is one vgg-wasm's relaxed kernels are exact under
    const exactDot = api.int8Kernels().startsWith("vgg-wasm's relaxed");
    // a name this build does not run is refused, naming the ones it does
    let refused = "";
    try { api.forceInt8Kernel("no_such_kernel"); } catch (e) { refused = String(e.message); }
    for (const fx of fixtures) {
      const model = await bytes(`/tests/fixtures/gen/${fx.model}`);
      const input = new Float32Array(await (await fetch(`/tests/fixtures/gen/${fx.name}.input.bin`)).arrayBuffer());
      const run = (name) => {
        api.forceInt8Kernel(name);
        const vgg = new api.Vgg(model);
        api.forceInt8Kernel(undefined);
        const kernels = vgg.info.matmulKernels;
        const out = new Uint32Array(vgg.forwardTensor(input, fx.input_shape).data.buffer);
        vgg.free();
        return { kernels, out };
      };
      const auto = run(undefined);
      defaults.push({ build, fixture: fx.name, kernels: auto.kernels, exactDot });
      for (const name of api.int8KernelNames()) {
        // (the 16-bit dot product kernels are exact on every engine)
        const relaxed = name.startsWith("vgg_wasm_i8_dot");
        if (relaxed && !exactDot && fx.name !== sevenBit) continue;
        const r = run(name);
        const differ = r.out.reduce((n, v, i) => n + (v !== auto.out[i]), 0);
        rows.push({ build, fixture: fx.name, name, kernels: r.kernels, auto: auto.kernels, differ, n: r.out.length,
          names: api.int8KernelNames(), refused });
      }
    }
    self.postMessage({ rows, dot: api.int8Kernels(), defaults });
  } catch (e) {
    self.postMessage({ error: `${e.message ?? e}` });
  }
};
