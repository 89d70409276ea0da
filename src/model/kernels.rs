//! Which matrix kernels run the int8 products, and a switch that forces one: how the tests
//! run every int8 kernel a machine can run, whatever its CPU or engine would pick.
//!
//! tract picks a kernel per product when it optimises a plan, asking a ladder of tiers
//! (highest precedence first) for a kernel by name. The tier here sits above all of them and
//! answers only while a kernel is forced on the calling thread; otherwise tract's own choice
//! (and, in the wasm builds, `int8_mmm`'s tier) stands.

use anyhow::{anyhow, Result};
use std::cell::Cell;
use tract_linalg::isa::IsaSet;
use tract_linalg::mmm::{Query, Suitable};
use tract_linalg::MmmDispatch;
use tract_onnx::prelude::tract_linalg;
use tract_onnx::prelude::DatumType;
use tract_onnx::prelude::TypedModel;
use tract_onnx::tract_hir::internal::inventory;
use tract_onnx::tract_hir::tract_core::ops::matmul::optimized::OptMatMul;

thread_local! {
    /// The kernel that plans built on this thread run their int8 products on; `None`: tract's
    /// choice. Thread-local, so that native tests running side by side do not see each other's.
    static FORCED: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// The int8 matrix kernels (i32 accumulators) this build can run here, by name: tract's for
/// this CPU or engine and, in the wasm builds, this crate's. tract's portable Rust
/// kernels are not among them: its dispatch takes one only where nothing else can run.
pub fn int8_kernel_names() -> Vec<&'static str> {
    MmmDispatch::native()
        .runnable()
        .iter()
        .filter(|m| m.internal_type() == DatumType::I32 && m.arch().is_some())
        .map(|m| m.name())
        .collect()
}

/// Makes the int8 products of plans built on this thread while it is set (a dynamic-size
/// model builds one per input size, at its first run there) run on kernel `name`
/// (one of [`int8_kernel_names`]) wherever that kernel can take them; `None` gives the choice
/// back to tract. For tests and benchmarks: the default choice is the fast one.
pub fn force_int8_kernel(name: Option<&str>) -> Result<()> {
    let forced = match name {
        None => None,
        Some(name) => {
            let names = int8_kernel_names();
            let found = names.iter().find(|k| **k == name).copied();
            Some(found.ok_or_else(|| {
                anyhow!("int8 kernel {name:?} is not one this build runs here (it runs: {})", names.join(", "))
            })?)
        }
    };
    FORCED.with(|f| f.set(forced));
    Ok(())
}

/// The kernel forced on this thread, if any.
pub fn forced_int8_kernel() -> Option<&'static str> {
    FORCED.with(Cell::get)
}

/// The kernels the matrix products of `model` (an optimised plan) run on, each name once, in
/// plan order.
pub fn matmul_kernels(model: &TypedModel) -> Vec<String> {
    let mut names: Vec<String> = vec![];
    for node in model.nodes() {
        if let Some(op) = node.op_as::<OptMatMul>() {
            for mmm in &op.mmm {
                if !names.iter().any(|n| n == mmm.name()) {
                    names.push(mmm.name().to_string());
                }
            }
        }
    }
    names
}

/// The forcing tier: the forced kernel for every i32-accumulator product it suits.
fn forced(_: &IsaSet, acc: DatumType, _: &Query, _: &[Suitable]) -> Option<&'static str> {
    (acc == DatumType::I32).then(forced_int8_kernel).flatten()
}

inventory::submit! {
    tract_linalg::mmm_tiers::MmmTier {
        // every architecture, above every tier of tract's and of int8_mmm
        arch: None,
        precedence: u8::MAX,
        name: "vgg-wasm-forced",
        applies: |_| true,
        preferred: forced,
    }
}

/// Which kernels run int8 matrix products here by default, in words: this crate's
/// relaxed-SIMD dot product kernels (relaxed builds, on an engine whose dot product they are
/// exact under), its SIMD128 ones (other wasm engines and builds), or tract's (natively).
pub fn int8_kernels() -> &'static str {
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    return if super::int8_mmm::unsigned_dot() {
        "vgg-wasm's relaxed-SIMD dot product kernels"
    } else {
        "vgg-wasm's SIMD128 kernels (16-bit dot products: this engine's relaxed dot product saturates or reads bytes as signed)"
    };
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128", not(target_feature = "relaxed-simd")))]
    return "vgg-wasm's SIMD128 kernels (16-bit dot products)";
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    "tract's kernels"
}

/// Whether the int8 matrix kernel tract picks here for a convolution's product reads its
/// patches in 4-byte K groups (`PackedI8K4`), the layout this crate's im2col writes
/// (src/model/im2col.rs): in the wasm builds (tract's relaxed kernel and this crate's);
/// natively only on CPUs whose int8 kernels use a 4-way dot product (AVX-512 VNNI, AVX-VNNI,
/// AMX, Arm's dot product). Elsewhere tract's own im2col packs them.
pub fn int8_patches_in_k4_panels() -> bool {
    use tract_linalg::pack::PackedI8K4;
    // conv1_2 of VGG16 at 224x224: 64 output channels, 64·3·3 inputs, 224·224 pixels
    let query = Query::plain(DatumType::I32, Some(64), Some(576), Some(224 * 224));
    MmmDispatch::native()
        .pick(&query)
        .is_some_and(|(mmm, packing, _)| mmm.packings().get(packing).is_some_and(|(_, b)| b.is::<PackedI8K4>()))
}
