//! The products as a tract op: per plane, U (the weights, packed once at load by
//! [`pack_weights`]) times V (packed by the input transform) on tract's matrix kernel, each
//! plane on one thread.

use super::geometry::Geometry;
use super::threads::par_channels;
use super::transforms::transform_kernel;
use tract_linalg::mmm::{AsInputValue, EagerPackedInput, FusedSpec, MMMInputFormat, MMMInputValue, PackedExoticFact};
use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_linalg::pack::PackedFormat;
use tract_onnx::prelude::tract_linalg;
use tract_onnx::tract_hir::internal::*;

/// The products: M[p] = U[p]·V[p] for each plane p, U packed once at load, V packed by
/// [`WinogradInput`](super::WinogradInput); M is [planes, cout, tiles]. The planes are
/// split over tract's threads, each plane's product on one thread.
#[derive(Clone, Debug)]
pub struct WinogradProduct {
    pub g: Geometry,
    weights: Weights,
}

/// The product's weights: the 3×3 kernel as the graph had it until [`pack_weights`] runs
/// (after tract's optimisation), then U[p], [cout, cin], packed as the kernel's A operand.
#[derive(Clone, Debug)]
enum Weights {
    Kernel(Arc<Tensor>),
    Packed(Arc<Vec<Box<dyn MMMInputValue>>>),
}

impl PartialEq for WinogradProduct {
    fn eq(&self, o: &WinogradProduct) -> bool {
        self.g == o.g
            && match (&self.weights, &o.weights) {
                (Weights::Kernel(a), Weights::Kernel(b)) => Arc::ptr_eq(a, b),
                (Weights::Packed(a), Weights::Packed(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}
impl Eq for WinogradProduct {}

/// Transforms and packs the weights of every [`WinogradProduct`] of an optimised model,
/// freeing the 3×3 kernels. Done last, not in the rewrite: the packed planes are many
/// small blocks, and allocated before tract packs the dense layers (fc6: 411 MB in one
/// block) they scattered over the space the model file had held, which then could not take
/// fc6's block, and wasm memory grew by it (README, "Winograd").
pub fn pack_weights(model: &mut TypedModel) -> TractResult<()> {
    for node in &mut model.nodes {
        let Some(op) = node.op_as::<WinogradProduct>() else { continue };
        let Weights::Kernel(kernel) = &op.weights else { continue };
        let packed = WinogradProduct::pack(&op.g, kernel.try_as_plain_ram()?.as_slice::<f32>()?)?;
        node.op = Box::new(WinogradProduct { g: op.g.clone(), weights: Weights::Packed(Arc::new(packed)) });
    }
    Ok(())
}

impl WinogradProduct {
    /// The product with the 3×3 weights `kernel` ([cout, cin, 3, 3]), transformed and
    /// packed by [`pack_weights`].
    pub fn new(g: Geometry, kernel: Arc<Tensor>) -> TractResult<WinogradProduct> {
        ensure!(kernel.shape() == [g.cout, g.cin, 3, 3], "WinogradProduct: kernel {kernel:?} for {}x{}", g.cout, g.cin);
        Ok(WinogradProduct { g, weights: Weights::Kernel(kernel) })
    }

    /// Transforms the 3×3 weights `w` ([cout, cin, 3, 3]) and writes each plane's U
    /// straight into the kernel's packed A layout (panels of `mr` output channels, each
    /// holding its channels' values input channel after input channel): the load's peak
    /// holds the packed planes and nothing more.
    fn pack(g: &Geometry, w: &[f32]) -> TractResult<Vec<Box<dyn MMMInputValue>>> {
        let (a, _) = &g.mmm.packings()[g.packing];
        let format = a.downcast_ref::<PackedFormat>().context("the kernel's A operand is not plainly packed")?;
        let (cout, cin, planes) = (g.cout, g.cin, g.planes());
        ensure!(w.len() == cout * cin * 9, "WinogradProduct: {} weights for {cout}x{cin}x3x3", w.len());
        let (mr, panel_len) = (format.r, format.single_panel_len(cin));
        let len = cout.div_ceil(mr) * panel_len;
        let mut blobs: Vec<Blob> = (0..planes)
            .map(|_| {
                // SAFETY: the blob is filled with zeros on the next line, before any read
                let mut b = unsafe { Blob::new_for_size_and_align(len * 4, format.alignment()) };
                // the padding (rows past cout, records past cin) must read as zero
                b.as_bytes_mut().fill(0);
                b
            })
            .collect();
        let mut planes_f32: Vec<&mut [f32]> = blobs
            .iter_mut()
            // SAFETY: each blob holds `len * 4` bytes aligned to the kernel's alignment (at least
            // 4), zero-filled above, and the blobs are distinct, so the slices do not overlap
            .map(|b| unsafe { std::slice::from_raw_parts_mut(b.as_bytes_mut().as_mut_ptr() as *mut f32, len) })
            .collect();
        for (oc, k) in w.chunks_exact(9).enumerate() {
            let (o, c) = (oc / cin, oc % cin);
            let at = o / mr * panel_len + c * mr + o % mr;
            for (plane, u) in planes_f32.iter_mut().zip(transform_kernel(g.tile, k)) {
                plane[at] = u;
            }
        }
        drop(planes_f32);
        let u = blobs
            .into_iter()
            .map(|blob| {
                Box::new(EagerPackedInput {
                    fact: PackedExoticFact { format: Box::new(format.clone()), mn: cout.to_dim(), k: cin },
                    packed: Arc::new(blob),
                    panel_bytes: panel_len * 4,
                    mn: cout,
                }) as Box<dyn MMMInputValue>
            })
            .collect();
        Ok(u)
    }

    /// M ([planes, cout, tiles]) from the packed V.
    pub fn run(&self, v: &[f32], m: &mut Tensor) -> TractResult<()> {
        let g = &self.g;
        let (planes, nt) = (g.planes(), g.n_tiles());
        ensure!(v.len() == planes * g.plane_len() && m.shape() == [planes, g.cout, nt], "WinogradProduct: sizes");
        let format = g.mmm.packings()[g.packing].1.clone();
        let Weights::Packed(u) = &self.weights else {
            bail!("WinogradProduct: weights not packed (optimise runs pack_weights after tract's optimisation)")
        };
        let m: &Tensor = m;
        par_channels(planes, planes * g.cout * g.cin * nt, |first, count| {
            // one thread per plane: split further, each of these small products would cost
            // a dispatch to the pool
            multithread_tract_scope(Executor::SingleThread, || {
                for p in first..first + count {
                    let b = PackedV {
                        fact: PackedExoticFact { format: format.clone(), mn: nt.to_dim(), k: g.cin },
                        at: v[p * g.plane_len()..].as_ptr() as usize,
                        panel_stride: g.panel_len * 4,
                        mn: nt,
                    };
                    let c = m.view_at_prefix(&[p])?;
                    // SAFETY: `u[p]` and `b` are packed in the formats of `g.packing` for this
                    // kernel (cout x cin and cin x nt, checked by the ensure above and by
                    // `pack_weights`); `c` is plane p of M, [cout, nt], which only this thread
                    // writes (planes are split between threads), and M outlives the call.
                    unsafe {
                        let store = g.mmm.c_view(Some(0), Some(1)).wrap(&c);
                        g.mmm.run(
                            g.cout,
                            nt,
                            &[
                                FusedSpec::AddMatMul {
                                    a: AsInputValue::Borrowed(&*u[p]),
                                    b: AsInputValue::Borrowed(&b),
                                    packing: g.packing,
                                },
                                FusedSpec::Store(store),
                            ],
                        )?;
                    }
                }
                Ok(())
            })
        })
    }
}

/// One plane of the packed V, where [`WinogradInput`](super::WinogradInput) wrote it: the
/// B operand of a product.
/// Lives only during [`WinogradProduct::run`], which holds the V it points into.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct PackedV {
    fact: PackedExoticFact,
    /// The plane's first byte, as an address (the value is `Send`).
    at: usize,
    /// Bytes from one of the plane's panels to the next.
    panel_stride: usize,
    mn: usize,
}

impl std::fmt::Display for PackedV {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Winograd V plane ({})", self.fact)
    }
}

impl MMMInputValue for PackedV {
    fn format(&self) -> &dyn MMMInputFormat {
        &*self.fact.format
    }
    fn scratch_panel_buffer_layout(&self) -> Option<std::alloc::Layout> {
        None
    }
    fn panel_bytes(&self, i: usize, _buffer: Option<*mut u8>) -> TractResult<*const u8> {
        Ok((self.at + i * self.panel_stride) as *const u8)
    }
    fn mn(&self) -> usize {
        self.mn
    }
    fn k(&self) -> usize {
        self.fact.k
    }
    fn exotic_fact(&self) -> &dyn ExoticFact {
        &self.fact
    }
    fn extract_at_mn_f16(&self, _mn: usize, _slice: &mut [f16]) -> TractResult<()> {
        bail!("Winograd V planes are only read by the kernel")
    }
    fn extract_at_mn_f32(&self, _mn: usize, _slice: &mut [f32]) -> TractResult<()> {
        bail!("Winograd V planes are only read by the kernel")
    }
}

impl Op for WinogradProduct {
    fn name(&self) -> StaticName {
        "WinogradProduct".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.g;
        Ok(vec![format!("{} planes of {}x{}x{} on {}", g.planes(), g.cout, g.cin, g.n_tiles(), g.mmm.name())])
    }

    op_as_typed_op!();
}

impl EvalOp for WinogradProduct {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let g = &self.g;
        let v = inputs[0].try_as_plain_ram()?.as_slice::<f32>()?;
        // SAFETY: a tensor tract leaves uninitialised (as its own ops make their outputs): `run`
        // writes every plane's cout x tiles products before anything reads one
        let mut m = unsafe { Tensor::uninitialized::<f32>(&[g.planes(), g.cout, g.n_tiles()])? };
        self.run(v, &mut m)?;
        Ok(tvec!(m.into_tvalue()))
    }
}

impl TypedOp for WinogradProduct {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let g = &self.g;
        ensure!(
            inputs[0].shape.as_concrete() == Some(&[g.planes(), g.plane_len()][..]),
            "WinogradProduct: input {:?}",
            inputs[0]
        );
        Ok(tvec!(f32::fact([g.planes(), g.cout, g.n_tiles()])))
    }

    as_op!();
}
