//! int8 im2col for tract's quantised convolutions, in the layout the int8 matrix kernels read.
//!
//! tract's fp32 convolutions read their input in place (lazy im2col); its quantised ones
//! copy every patch into a packed buffer first (`Im2col`), one byte at a time through a
//! generic writer: in int8 VGG16 that copy took a quarter of the run (conv1_2 alone writes
//! 29 MB, 110 ms of its 230). This op writes the same bytes (tract's `PackedI8K4` panels:
//! 4 pixels a panel, 4 consecutive k a pixel, k = channel·kh·kw + ky·kw + kx), a 16-byte
//! block at a time from input rows, for the convolutions VGG has: 2D, stride 1, dilation 1,
//! one group, explicit padding. It replaces tract's op in the optimised plan (`rewrite`);
//! any other convolution keeps tract's.
//!
//! The unit test below checks it byte for byte against tract's op on every convolution of
//! an odd-shaped int8 VGG.

use tract_linalg::mmm::{EagerPackedInput, MMMInputValue, PackedExoticFact, PackedMatrixStorage};
use tract_linalg::pack::PackedI8K4;
use tract_onnx::prelude::tract_linalg;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::ops::cnn::conv::Im2Col;
use tract_onnx::tract_hir::tract_core::ops::cnn::PaddingSpec;

/// The geometry of one convolution's patches, input [c, h, w] (strides in elements),
/// output [ho, wo].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Im2colI8 {
    c: usize,
    h: usize,
    w: usize,
    /// Element strides of channel, row and column in the input (NCHW: h·w, w, 1; NHWC: 1, w·c, c).
    strides: [usize; 3],
    kh: usize,
    kw: usize,
    /// Padding before, rows and columns.
    pad: [usize; 2],
    ho: usize,
    wo: usize,
    /// Pixels a panel (the kernel's column count).
    r: usize,
    /// The op's output fact (tract's), kept whole.
    fact: TypedFact,
}

/// Replaces every tract `Im2col` this op can do in an optimised plan; returns how many.
pub fn rewrite(model: &mut TypedModel) -> TractResult<usize> {
    let mut done = 0;
    for id in model.eval_order()? {
        let node = &model.nodes[id];
        let Some(op) = node.op_as::<Im2Col>() else { continue };
        let input = model.outlet_fact(node.inputs[0])?;
        let Some(ours) = Im2colI8::for_op(op, input, &node.outputs[0].fact)? else { continue };
        let patch = TypedModelPatch::replace_single_op(model, node, &node.inputs, ours)?;
        patch.apply(model)?;
        done += 1;
    }
    Ok(done)
}

impl Im2colI8 {
    fn for_op(op: &Im2Col, input: &TypedFact, output: &TypedFact) -> TractResult<Option<Im2colI8>> {
        let spec = &op.pool_spec;
        let Some(format) = output.exotic_fact().and_then(|f| f.downcast_ref::<PackedExoticFact>()) else {
            return Ok(None);
        };
        let Some(p4) = format.format.downcast_ref::<PackedI8K4>() else { return Ok(None) };
        let Some(shape) = input.shape.as_concrete() else { return Ok(None) };
        let kernel = &spec.kernel_shape;
        let ones = |v: &Option<TVec<usize>>| v.as_ref().is_none_or(|v| v.iter().all(|&x| x == 1));
        let PaddingSpec::Explicit(before, after) = &spec.padding else { return Ok(None) };
        if input.datum_type.size_of() != 1
            || op.group != 1
            || kernel.len() != 2
            || !ones(&spec.strides)
            || !ones(&spec.dilations)
            || !spec.data_format.has_n()
            || shape.len() != 4
            || shape[0] != 1
        {
            return Ok(None);
        }
        let (c, h, w, strides) = if spec.data_format.c_is_last() {
            (shape[3], shape[1], shape[2], [1, shape[2] * shape[3], shape[3]])
        } else {
            (shape[1], shape[2], shape[3], [shape[2] * shape[3], shape[3], 1])
        };
        let (kh, kw) = (kernel[0], kernel[1]);
        let (ho, wo) = ((h + before[0] + after[0]).checked_sub(kh - 1), (w + before[1] + after[1]).checked_sub(kw - 1));
        let (Some(ho), Some(wo)) = (ho, wo) else { return Ok(None) };
        if format.k != c * kh * kw || format.mn.to_usize().ok() != Some(ho * wo) {
            return Ok(None);
        }
        Ok(Some(Im2colI8 {
            c,
            h,
            w,
            strides,
            kh,
            kw,
            pad: [before[0], before[1]],
            ho,
            wo,
            r: p4.r,
            fact: output.clone(),
        }))
    }

    /// Bytes of the packed patches: whole panels of 4 pixels.
    fn packed_len(&self) -> usize {
        (self.ho * self.wo).div_ceil(self.r) * self.panel_len()
    }

    fn panel_len(&self) -> usize {
        (self.c * self.kh * self.kw).div_ceil(4) * 4 * self.r
    }

    /// Writes every byte of the packed patches of `x` (int8 or uint8 bytes) into `out`
    /// (`packed_len` bytes), `pad` where a patch leaves the image.
    fn pack(&self, x: &[u8], pad: u8, out: &mut [u8]) -> TractResult<()> {
        let k = self.c * self.kh * self.kw;
        let kb = k.div_ceil(4);
        let n = self.ho * self.wo;
        let panel = self.panel_len();
        let [cs, hs, ws] = self.strides;
        let area = self.kh * self.kw;
        // each k's channel and kernel row and column, and its offset from the patch's top-left
        // input element
        let taps: Vec<(usize, usize, usize)> =
            (0..k).map(|kk| (kk / area, kk % area / self.kw, kk % self.kw)).collect();
        let offsets: Vec<usize> = taps.iter().map(|&(ci, ky, kx)| ci * cs + ky * hs + kx * ws).collect();
        let last = offsets.iter().max().copied().unwrap_or(0);
        // whether the whole patch of output pixel (yo, xo) lies inside the image
        let inside = |yo: usize, xo: usize| {
            yo >= self.pad[0]
                && yo + self.kh <= self.h + self.pad[0]
                && xo >= self.pad[1]
                && xo + self.kw <= self.w + self.pad[1]
        };
        // panels are independent: split over the threads tract's matrix products use (the
        // same bytes on any number of threads)
        let each_panel = |p: usize, dst: &mut [u8]| {
            let first = p * self.r;
            let lanes = self.r.min(n - first);
            let (yo, xo) = (first / self.wo, first % self.wo);
            // a panel of pixels of one row whose patches lie inside the image, rows
            // contiguous: each k's bytes for 4 pixels are 4 consecutive input bytes
            let r = self.r;
            if r.is_multiple_of(4)
                && lanes == r
                && xo + r <= self.wo
                && ws == 1
                && inside(yo, xo)
                && inside(yo, xo + r - 1)
            {
                let base = (yo - self.pad[0]) * hs + (xo - self.pad[1]);
                assert!(base + last + r <= x.len(), "Im2colI8: a patch past the input");
                // SAFETY: every read is within x[base + offset .. base + offset + r], inside x
                // by the assert
                unsafe { block_rows(dst, x.as_ptr().add(base), &offsets, kb, r) };
                return;
            }
            // padding lanes (k past the last, pixels past the last) stay zero, as tract's
            // packer leaves them
            dst.fill(0);
            for lane in 0..lanes {
                let (yo, xo) = ((first + lane) / self.wo, (first + lane) % self.wo);
                for (kk, &(ci, ky, kx)) in taps.iter().enumerate() {
                    let (y, x_) = ((yo + ky).wrapping_sub(self.pad[0]), (xo + kx).wrapping_sub(self.pad[1]));
                    // (a coordinate before the image wraps to a huge one: outside too)
                    let v = if y < self.h && x_ < self.w { x[ci * cs + y * hs + x_ * ws] } else { pad };
                    dst[(kk / 4) * 4 * self.r + lane * 4 + kk % 4] = v;
                }
            }
        };
        let len = out.len();
        tract_linalg::multithread::par_chunks_mut(out, panel, len, |p0, chunk| {
            for (i, dst) in chunk.chunks_exact_mut(panel).enumerate() {
                each_panel(p0 + i, dst);
            }
            Ok(())
        })
    }
}

/// One panel of `r` pixels in a row (r a multiple of 4): for each 4 k and each 4 pixels, the
/// pixels' bytes of each k (4 consecutive input bytes at `x + offset`) transposed so that each
/// pixel's 4 k are consecutive.
///
/// # Safety
/// `x + offset .. x + offset + r` must be readable for every offset.
#[inline]
unsafe fn block_rows(dst: &mut [u8], x: *const u8, offsets: &[usize], kb: usize, r: usize) {
    // SAFETY: `word` is called at `o + 4g` with `4g + 4 <= r` for an offset `o`, so its 4 bytes
    // lie in `x + o .. x + o + r`, which the caller makes readable; the read is unaligned
    let word = |o: usize| unsafe { (x.add(o) as *const u32).read_unaligned() };
    let full = offsets.len() / 4;
    for (b, o) in offsets.chunks_exact(4).enumerate() {
        for g in 0..r / 4 {
            let at = 4 * (b * r + 4 * g);
            let rows = [word(o[0] + 4 * g), word(o[1] + 4 * g), word(o[2] + 4 * g), word(o[3] + 4 * g)];
            transpose4(&mut dst[at..at + 16], rows);
        }
    }
    if full < kb {
        // the last k: zero padding after them, as tract's packer leaves it
        for g in 0..r / 4 {
            let mut rows = [0u32; 4];
            for (row, &o) in rows.iter_mut().zip(&offsets[4 * full..]) {
                *row = word(o + 4 * g);
            }
            let at = 4 * (full * r + 4 * g);
            transpose4(&mut dst[at..at + 16], rows);
        }
    }
}

/// `rows[i]` holds k i's bytes for pixels 0..4; writes pixel j's k 0..4 at `dst[4j..4j + 4]`.
#[inline(always)]
fn transpose4(dst: &mut [u8], rows: [u32; 4]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use std::arch::wasm32::*;
        let v = u32x4(rows[0], rows[1], rows[2], rows[3]);
        let t = i8x16_swizzle(v, i8x16(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
        assert!(dst.len() >= 16);
        // SAFETY: dst holds 16 bytes (checked); v128 stores have no alignment requirement
        unsafe { v128_store(dst.as_mut_ptr() as *mut v128, t) }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    for (j, px) in dst.chunks_exact_mut(4).enumerate() {
        for (i, row) in rows.iter().enumerate() {
            px[i] = (row >> (8 * j)) as u8;
        }
    }
}

impl Op for Im2colI8 {
    fn name(&self) -> StaticName {
        "Im2colI8".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{}x{}x{} -> {}x{}, kernel {}x{}", self.c, self.h, self.w, self.ho, self.wo, self.kh, self.kw)])
    }

    op_as_typed_op!();
}

impl EvalOp for Im2colI8 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let dt = x.datum_type();
        ensure!(dt.size_of() == 1 && x.len() == self.c * self.h * self.w, "Im2colI8: input {x:?}");
        // the padding value is the input's zero point (tract drops the input when it is 0)
        let pad = inputs.get(1).map_or(0, |p| p.as_bytes()[0]);
        let n = self.ho * self.wo;
        let k = self.c * self.kh * self.kw;
        let format = PackedI8K4::new(self.r);
        // SAFETY: a fresh blob of packed_len bytes, every one of which `pack` writes before
        // anything reads it (not zeroed first: that doubled the bytes written per image)
        let mut blob = unsafe { Blob::new_for_size_and_align(self.packed_len(), format.alignment()) };
        self.pack(x.as_bytes(), pad, blob.as_bytes_mut())?;
        let value: Box<dyn MMMInputValue> = Box::new(EagerPackedInput {
            fact: PackedExoticFact { format: Box::new(format), k, mn: n.to_dim() },
            packed: blob.into(),
            panel_bytes: self.panel_len(),
            mn: n,
        });
        let out = PackedMatrixStorage::new_batched(&[1, 1], tvec![value]).into_tensor(dt);
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for Im2colI8 {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.fact.clone()))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_linalg::mmm::{DynKernel, FusedKerSpec, MatMatMul};
    use tract_linalg::pack::Packing;
    use tract_onnx::tract_hir::tract_core::ops::cnn::PoolSpec;
    use tract_onnx::tract_hir::tract_core::ops::nn::DataFormat;

    /// A kernel whose second packing is `PackedI8K4` with `r` columns, as the int8 kernels' are
    /// (tract's 4, this crate's 8): tract's `Im2Col` takes its output format from it (it never
    /// runs the kernel).
    fn i8k4_kernel(r: usize) -> Box<dyn MatMatMul> {
        unsafe fn never(_: &[FusedKerSpec<i32>]) -> isize {
            1
        }
        DynKernel::<8, 4, i32>::new("i8k4", never, i32::packing(8), i32::packing(4))
            .with_packing(PackedI8K4::new(8), PackedI8K4::new(r))
            .mmm()
    }

    fn bytes(t: &TValue) -> Vec<u8> {
        let storage = t.storage_as::<PackedMatrixStorage>().expect("packed output");
        let value = storage.value().downcast_ref::<EagerPackedInput>().expect("eager packing");
        value.packed.as_bytes().to_vec()
    }

    #[test]
    fn patches_are_packed_as_tracts_im2col_packs_them() {
        // channels, height, width, kernel, padding before and after, channels last, zero point:
        // 1 and 3 channels, sizes that are not multiples of 4, padding at every border or
        // none, asymmetric padding, a 1x1 kernel
        let cases = [
            (1, 5, 7, 3, [1usize, 1], [1usize, 1], false, 0i8),
            (3, 13, 11, 3, [1, 1], [1, 1], false, -128),
            (2, 9, 21, 3, [1, 1], [1, 1], false, 17),
            (5, 9, 4, 3, [1, 1], [1, 1], false, 3),
            (3, 3, 3, 3, [1, 1], [1, 1], false, -7),
            (6, 8, 9, 3, [0, 0], [0, 0], false, 0),
            (2, 7, 6, 3, [2, 0], [0, 2], false, 11),
            (7, 6, 9, 1, [0, 0], [0, 0], false, -1),
            (4, 7, 10, 3, [1, 1], [1, 1], true, 5),
        ];
        let mut seed = 12345u32;
        for ((c, h, w, k, before, after, nhwc, zp), r) in cases.into_iter().flat_map(|case| [(case, 4), (case, 8)]) {
            let format = if nhwc { DataFormat::NHWC } else { DataFormat::NCHW };
            let shape: Vec<usize> = if nhwc { vec![1, h, w, c] } else { vec![1, c, h, w] };
            let data: Vec<i8> = (0..c * h * w)
                .map(|_| {
                    seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
                    (seed >> 24) as i8
                })
                .collect();
            let x = tract_ndarray::ArrayD::from_shape_vec(shape.clone(), data).unwrap().into_tensor();
            let spec = PoolSpec {
                data_format: format,
                kernel_shape: tvec![k, k],
                padding: PaddingSpec::Explicit(before.iter().copied().collect(), after.iter().copied().collect()),
                dilations: None,
                strides: None,
                input_channels: c,
                output_channels: 16,
            };
            let fact = i8::fact(&shape);
            let theirs = Im2Col::new(spec, 1, c * k * k, &fact.shape, i8k4_kernel(r), 1).unwrap();
            let out_fact = theirs.output_facts(&[&fact]).unwrap().remove(0);
            let ours = Im2colI8::for_op(&theirs, &fact, &out_fact).unwrap().expect("a convolution Im2colI8 does");
            let inputs = || tvec![x.clone().into_tvalue(), tensor0(zp).into_tvalue()];
            let ctx = EvalContext::out_of_plan();
            let expected = bytes(&theirs.eval(&ctx, inputs()).unwrap()[0]);
            let got = bytes(&ours.eval(&ctx, inputs()).unwrap()[0]);
            assert_eq!(
                got, expected,
                "c {c}, {h}x{w}, kernel {k}, padding {before:?} {after:?}, nhwc {nhwc}, panels of {r}"
            );
        }
    }
}
