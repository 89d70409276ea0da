//! Module-wide settings and facts: threads, wasm memory, the int8 kernels.

use super::args::*;
use wasm_bindgen::prelude::*;

/// Sets how many threads inference runs on, for every `Vgg` of this module. In the threaded
/// build (`vgg_wasm_threads`), call `await initThreadPool(n)` first, once, then
/// `useThreads(k)` with 1 ≤ k ≤ n; the single-threaded build accepts only 1. Throws on
/// anything else.
#[wasm_bindgen(js_name = useThreads)]
pub fn use_threads(threads: JsValue) -> Result<(), JsError> {
    let n = threads.as_f64().filter(|n| n.fract() == 0.0 && *n >= 1.0 && *n <= 256.0).ok_or_else(|| {
        JsError::new(&format!("threads must be a whole number from 1 to 256, got {}", describe(&threads)))
    })?;
    crate::model::use_threads(n as usize).map_err(js_error)
}

/// How many threads inference runs on now (always 1 in the single-threaded build).
#[wasm_bindgen(js_name = threadCount)]
pub fn thread_count() -> usize {
    crate::model::threads()
}

/// Bytes of wasm memory this module holds now. Wasm memory grows and never shrinks, so this
/// is also its peak so far. (0 outside WebAssembly.)
#[wasm_bindgen(js_name = memoryBytes)]
pub fn memory_bytes() -> f64 {
    #[cfg(target_arch = "wasm32")]
    return core::arch::wasm32::memory_size(0) as f64 * 65536.0;
    #[cfg(not(target_arch = "wasm32"))]
    0.0
}

/// Which kernels run int8 models' matrix products in this build on this engine, in words:
/// vgg-wasm's relaxed-SIMD dot product kernels (where the engine's relaxed dot product reads
/// bytes above 127 as unsigned, without saturating: V8 on x86 with VNNI) or vgg-wasm's
/// SIMD128 kernels (16-bit dot products: the SIMD128 build, and other engines).
#[wasm_bindgen(js_name = int8Kernels)]
pub fn int8_kernels() -> String {
    crate::model::int8_kernels().to_string()
}

/// The int8 matrix kernels this build can run on this engine, by name: the values
/// `forceInt8Kernel` takes (tract's wasm kernels and vgg-wasm's; the relaxed ones only in the
/// relaxed-SIMD builds).
#[wasm_bindgen(js_name = int8KernelNames)]
pub fn int8_kernel_names() -> Vec<String> {
    crate::model::int8_kernel_names().into_iter().map(str::to_string).collect()
}

/// For tests and benchmarks: makes the plans built while it is set (on this thread) run their
/// int8 products on the kernel `name` (one of `int8KernelNames()`) wherever it can take them,
/// even where this engine's relaxed dot product makes vgg-wasm's relaxed kernels inexact for inputs
/// that can saturate it; `undefined` gives the choice back. `new Vgg` builds its plan at once;
/// `Vgg.create` after its first await, and a dynamic-size model again for each new input size,
/// so keep it set until those are done. `ModelInfo.matmulKernels` says what a model runs.
/// Throws for a name this build does not run here.
#[wasm_bindgen(js_name = forceInt8Kernel)]
pub fn force_int8_kernel(name: Option<String>) -> Result<(), JsError> {
    crate::model::force_int8_kernel(name.as_deref()).map_err(js_error)
}

/// Whether this build of the module can use more than one thread (`initThreadPool` exists).
#[wasm_bindgen(js_name = isThreadedBuild)]
pub fn is_threaded_build() -> bool {
    crate::model::THREADED_BUILD
}

// wasm-bindgen-rayon's `initThreadPool(n)`: starts n Web Workers sharing this module's memory.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;
