//! Winograd convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
//! CVPR 2016) for the 3×3, stride-1 convolutions that hold nearly all of VGG's work.
//!
//! F(m×m, 3×3) computes an m×m block of output from an (m+2)×(m+2) tile of input with
//! (m+2)² multiplications per input/output channel pair instead of 9m²: 2.25× fewer for
//! F(2×2), 4× fewer for F(4×4). Over all channels that is one matrix product per tile
//! position ("plane"): for each of the (m+2)² planes, M = U·V with U the transformed
//! weights [cout × cin] and V the transformed input [cin × tiles].
//!
//! `rewrite` replaces each eligible tract `Conv` of a decluttered model with three nodes:
//! `WinogradInput` (input tiles → V, written straight into the packed layout of tract's
//! matrix kernel), `WinogradProduct` (the planes' products U·V on tract's kernel, U packed
//! once at load by `pack_weights`, after tract's optimisation, which frees the 3×3 weights)
//! and `WinogradOutput` (M → the output, adding the bias and applying the ReLU and 2×2 max
//! pooling that followed the convolution, where nothing else reads their inputs).
//!
//! The products are split over threads a plane at a time, each plane's product on one
//! thread. tract's own batched product (an `EinSum`, tried first) splits each plane's
//! small product over the threads instead, one dispatch per plane: in the browser that
//! took VGG16's Winograd products from 546 ms on one thread to only 492 on two (README,
//! "Winograd").
//!
//! The transforms vectorise across four adjacent tiles of a tile row ([`F4`]: wasm's f32x4
//! where SIMD128 is on, four floats elsewhere, written the same way), and split over
//! tract's threads (the input transform by rows of tiles, the output by channels).

use tract_linalg::mmm::{
    AsInputValue, EagerPackedInput, FusedSpec, MMMInputFormat, MMMInputValue, MatMatMul, PackedExoticFact,
};
use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_linalg::pack::PackedFormat;
use tract_onnx::prelude::tract_linalg;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_hir::tract_core::ops::cnn::{Conv, KernelFormat, MaxPool, PaddingSpec};

/// Which algorithm the eligible convolutions run: the `convolution` load option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
pub enum Convolution {
    /// Winograd where the bench measured it faster, per layer ([`Tile::auto`]).
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// tract's own convolution everywhere.
    #[serde(rename = "direct")]
    Direct,
    /// F(2×2, 3×3) on every eligible convolution, whatever its size.
    #[serde(rename = "winograd-f2")]
    F2,
    /// F(4×4, 3×3) on every eligible convolution, whatever its size.
    #[serde(rename = "winograd-f4")]
    F4,
}

/// The output block a tile computes: F(2×2, 3×3) or F(4×4, 3×3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tile {
    F2,
    F4,
}

impl Tile {
    /// Output rows and columns a tile computes.
    pub fn m(self) -> usize {
        match self {
            Tile::F2 => 2,
            Tile::F4 => 4,
        }
    }

    /// Input rows and columns a tile reads (m + 2).
    pub fn alpha(self) -> usize {
        self.m() + 2
    }

    /// The algorithm in words, as reports show it.
    pub fn label(self) -> &'static str {
        match self {
            Tile::F2 => "winograd F(2x2,3x3)",
            Tile::F4 => "winograd F(4x4,3x3)",
        }
    }

    /// The default choice for a convolution with `cin` input channels and an output of
    /// `ho`×`wo`, from the bench's per-layer profiles (README, "Winograd"): direct below 32
    /// input channels (VGG's first layer, 3 channels: the product is too thin to gain);
    /// F(4×4) from 8×8 outputs up (in VGG16 at 224² it beat F(2×2) on every layer, 14×14
    /// included); F(2×2) on smaller maps, where F(4×4)'s tiles would be mostly padding.
    pub fn auto(cin: usize, ho: usize, wo: usize) -> Option<Tile> {
        if cin < 32 {
            None
        } else if ho.min(wo) >= 8 {
            Some(Tile::F4)
        } else {
            Some(Tile::F2)
        }
    }
}

/// Which algorithm one convolution of the plan runs, for reports.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Choice {
    /// The ONNX node.
    pub node: String,
    /// "winograd F(4x4,3x3)", "winograd F(2x2,3x3)" or "direct".
    pub algorithm: &'static str,
}

/// Replaces the eligible convolutions of a decluttered model as `mode` says; returns the
/// algorithm of every convolution (Winograd or not), in graph order.
pub fn rewrite(model: &mut TypedModel, mode: Convolution) -> TractResult<Vec<Choice>> {
    let mut choices = vec![];
    for id in model.eval_order()? {
        let node = &model.nodes[id];
        let Some(conv) = node.op_as::<Conv>() else { continue };
        let name = node.name.clone();
        let plan = if mode == Convolution::Direct { None } else { Plan::for_conv(model, node, conv, mode)? };
        let Some(plan) = plan else {
            choices.push(Choice { node: name, algorithm: "direct" });
            continue;
        };
        choices.push(Choice { node: name, algorithm: plan.tile.label() });
        plan.apply(model, id)?;
    }
    model.compact()?;
    Ok(choices)
}

/// One convolution's Winograd form, before it is wired.
struct Plan {
    tile: Tile,
    geometry: Geometry,
    /// The 3×3 weights, [cout, cin, 3, 3].
    kernel: Arc<Tensor>,
    bias: Vec<f32>,
    /// The ReLU node that follows and is folded into the output transform.
    relu: Option<usize>,
    /// The 2×2, stride-2 max pooling after that ReLU, folded in too.
    pool: Option<usize>,
}

impl Plan {
    fn for_conv(model: &TypedModel, node: &TypedNode, conv: &Conv, mode: Convolution) -> TractResult<Option<Plan>> {
        let spec = &conv.pool_spec;
        let ones = |v: &Option<TVec<usize>>| v.as_ref().is_none_or(|v| v.iter().all(|&x| x == 1));
        if conv.q_params.is_some()
            || conv.group != 1
            || conv.kernel_fmt != KernelFormat::OIHW
            || spec.kernel_shape.as_slice() != [3, 3]
            || !ones(&spec.strides)
            || !ones(&spec.dilations)
            || spec.data_format.c_is_last()
            || !spec.data_format.has_n()
            || node.inputs.len() != 3
        {
            return Ok(None);
        }
        let input = model.outlet_fact(node.inputs[0])?;
        let (Some(kernel), Some(bias)) =
            (&model.outlet_fact(node.inputs[1])?.konst, &model.outlet_fact(node.inputs[2])?.konst)
        else {
            return Ok(None);
        };
        let Some(shape) = input.shape.as_concrete() else { return Ok(None) };
        if input.datum_type != f32::datum_type()
            || kernel.datum_type() != f32::datum_type()
            || bias.datum_type() != f32::datum_type()
            || shape.len() != 4
            || shape[0] != 1
        {
            return Ok(None);
        }
        let (cin, h, w) = (shape[1], shape[2], shape[3]);
        let cout = spec.output_channels;
        if kernel.shape() != [cout, cin, 3, 3] || !(bias.len() == cout || bias.len() == 1) {
            return Ok(None);
        }
        let padding = spec.computed_padding(&[h, w]);
        let (ho, wo) = (padding[0].convoluted, padding[1].convoluted);
        // the output the replacement must match exactly, or the convolution stays tract's
        let out = &node.outputs[0].fact;
        if ho == 0
            || wo == 0
            || out.datum_type != f32::datum_type()
            || out.shape.as_concrete() != Some(&[1, cout, ho, wo][..])
        {
            return Ok(None);
        }
        let tile = match mode {
            Convolution::Direct => return Ok(None),
            Convolution::Auto => match Tile::auto(cin, ho, wo) {
                Some(t) => t,
                None => return Ok(None),
            },
            Convolution::F2 => Tile::F2,
            Convolution::F4 => Tile::F4,
        };
        let Some(geometry) =
            Geometry::new(tile, cin, cout, [h, w], [padding[0].pad_before, padding[1].pad_before], [ho, wo])
        else {
            return Ok(None);
        };
        let kernel = kernel.clone();
        let bias = if bias.len() == cout {
            bias.try_as_plain_ram()?.as_slice::<f32>()?.to_vec()
        } else {
            vec![bias.try_as_plain_ram()?.as_slice::<f32>()?[0]; cout]
        };
        let relu = following_relu(model, node)?;
        let pool = match relu {
            Some(relu) => following_pool(model, &model.nodes[relu])?,
            None => None,
        }
        .filter(|_| ho >= 2 && wo >= 2);
        Ok(Some(Plan { tile, geometry, kernel, bias, relu, pool }))
    }

    fn apply(self, model: &mut TypedModel, id: usize) -> TractResult<()> {
        let node = &model.nodes[id];
        let name = node.name.clone();
        let mut patch = TypedModelPatch::default();
        let x = patch.tap_model(model, node.inputs[0])?;
        let v = patch.wire_node(format!("{name}.winograd_input"), WinogradInput { g: self.geometry.clone() }, &[x])?;
        let product = WinogradProduct::new(self.geometry.clone(), self.kernel.clone())?;
        let m = patch.wire_node(format!("{name}.winograd_product"), product, &v)?;
        let out =
            WinogradOutput { g: self.geometry, bias: self.bias, relu: self.relu.is_some(), pool: self.pool.is_some() };
        let y = patch.wire_node(format!("{name}.winograd_output"), out, &m)?;
        let replaced = OutletId::new(self.pool.or(self.relu).unwrap_or(id), 0);
        patch.shunt_outside(model, replaced, y[0])?;
        for node in [Some(id), self.relu, self.pool].into_iter().flatten() {
            patch.obliterate(node)?;
        }
        patch.apply(model)
    }
}

impl Plan {
    /// The convolution of `x` ([1, cin, h, w]) computed by this plan's transforms, the
    /// product done by ndarray (for checks: the plan's own product is tract's kernel's),
    /// without the folded ReLU.
    fn run(&self, x: &[f32]) -> TractResult<Vec<f32>> {
        let g = &self.geometry;
        let (planes, nt) = (g.planes(), g.n_tiles());
        // V as the product reads it, then each plane read back out of its panels
        let mut packed = vec![0f32; planes * g.plane_len()];
        WinogradInput { g: g.clone() }.run(x, &mut packed)?;
        let u = transform_weights(self.tile, self.kernel.try_as_plain_ram()?.as_slice::<f32>()?, g.cout, g.cin);
        let mut m = tract_ndarray::Array3::<f32>::zeros([planes, g.cout, nt]);
        for p in 0..planes {
            let vp = tract_ndarray::Array2::from_shape_fn([g.cin, nt], |(c, t)| packed[g.packed_at(p, c, t)]);
            let up = tract_ndarray::ArrayView2::from_shape(
                [g.cout, g.cin],
                &u[p * g.cout * g.cin..(p + 1) * g.cout * g.cin],
            )?;
            m.index_axis_mut(tract_ndarray::Axis(0), p).assign(&up.dot(&vp));
        }
        let mut y = vec![0f32; g.cout * g.out[0] * g.out[1]];
        let out = WinogradOutput { g: g.clone(), bias: self.bias.clone(), relu: false, pool: false };
        out.run(m.as_slice().context("a standard layout")?, &mut y)?;
        Ok(y)
    }
}

/// How far one convolution computed by Winograd is from tract's direct convolution.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerError {
    /// The ONNX node.
    pub node: String,
    pub algorithm: &'static str,
    /// The largest difference from the direct output, relative to its largest magnitude.
    pub max_rel_error: f32,
}

/// Runs a decluttered model on `input` with tract's direct convolutions and computes each
/// eligible convolution again with `tile` from the same input: per layer, how far the two
/// differ. Each layer starts from the direct run's activations, so errors do not add up
/// from layer to layer: this is each layer's own error.
pub fn layer_errors(model: TypedModel, input: TValue, tile: Tile) -> TractResult<Vec<LayerError>> {
    let mode = match tile {
        Tile::F2 => Convolution::F2,
        Tile::F4 => Convolution::F4,
    };
    let plan = TypedSimplePlan::new(model)?;
    let model = plan.model();
    let mut state = TypedSimpleState::new(&plan)?;
    let mut errors = vec![];
    state.run_plan_with_eval(tvec!(input), |ctx, op_state, node, inputs| {
        let x = inputs.first().cloned();
        let direct = tract_onnx::tract_hir::tract_core::plan::eval(ctx, op_state, node, inputs)?;
        let ours = match (node.op_as::<Conv>(), x) {
            (Some(conv), Some(x)) => match Plan::for_conv(model, node, conv, mode)? {
                Some(p) => Some(p.run(x.try_as_plain_ram()?.as_slice::<f32>()?)?),
                None => None,
            },
            _ => None,
        };
        if let Some(ours) = ours {
            let want = direct[0].try_as_plain_ram()?.as_slice::<f32>()?;
            ensure!(want.len() == ours.len(), "{}: {} values, Winograd gave {}", node.name, want.len(), ours.len());
            let scale = want.iter().fold(0f32, |a, b| a.max(b.abs()));
            let err = want.iter().zip(&ours).fold(0f32, |a, (w, o)| a.max((w - o).abs()));
            errors.push(LayerError { node: node.name.clone(), algorithm: tile.label(), max_rel_error: err / scale });
        }
        Ok(direct)
    })?;
    Ok(errors)
}

/// The ReLU (tract's `Max` with a constant 0) that alone reads `node`'s output, where the
/// output is not also one of the model's (a kept activation must stay as it was).
fn following_relu(model: &TypedModel, node: &TypedNode) -> TractResult<Option<usize>> {
    let out = OutletId::new(node.id, 0);
    let succ = &node.outputs[0].successors;
    if succ.len() != 1 || model.outputs.contains(&out) {
        return Ok(None);
    }
    let next = &model.nodes[succ[0].node];
    let Some(bin) = next.op_as::<TypedBinOp>() else { return Ok(None) };
    if bin.0.name() != "Max" || next.inputs.len() != 2 {
        return Ok(None);
    }
    let other = next.inputs[1 - succ[0].slot];
    let Some(zero) = &model.outlet_fact(other)?.konst else { return Ok(None) };
    let fact = model.outlet_fact(OutletId::new(next.id, 0))?;
    let same = fact.shape == node.outputs[0].fact.shape && fact.datum_type == f32::datum_type();
    Ok((same
        && zero.len() == 1
        && zero.datum_type() == f32::datum_type()
        && zero.try_as_plain_ram()?.as_slice::<f32>()?[0] == 0.0)
        .then_some(next.id))
}

/// The max pooling (2×2, stride 2, no padding) that alone reads `node`'s output, where the
/// output is not also one of the model's.
fn following_pool(model: &TypedModel, node: &TypedNode) -> TractResult<Option<usize>> {
    let succ = &node.outputs[0].successors;
    if succ.len() != 1 || model.outputs.contains(&OutletId::new(node.id, 0)) {
        return Ok(None);
    }
    let next = &model.nodes[succ[0].node];
    let Some(pool) = next.op_as::<MaxPool>() else { return Ok(None) };
    let spec = &pool.pool_spec;
    let no_padding = match &spec.padding {
        PaddingSpec::Valid => true,
        PaddingSpec::Explicit(before, after) => before.iter().chain(after).all(|&p| p == 0),
        _ => false,
    };
    let ones = spec.dilations.as_ref().is_none_or(|d| d.iter().all(|&x| x == 1));
    let ok = pool.with_index_outputs.is_none()
        && spec.kernel_shape.as_slice() == [2, 2]
        && spec.strides.as_ref().is_some_and(|s| s.as_slice() == [2, 2])
        && no_padding
        && ones
        && !spec.data_format.c_is_last()
        && spec.data_format.has_n();
    Ok(ok.then_some(next.id))
}

/// The shapes one Winograd convolution works on.
#[derive(Clone, Debug)]
pub struct Geometry {
    tile: Tile,
    cin: usize,
    cout: usize,
    /// Input height and width.
    hw: [usize; 2],
    /// Padding before, rows and columns (after is whatever the output size implies).
    pad: [usize; 2],
    /// Output height and width.
    out: [usize; 2],
    /// Tile rows and columns: ceil(out / m).
    tiles: [usize; 2],
    /// tract's matrix kernel for the products, and which of its packings they use.
    mmm: Box<dyn MatMatMul>,
    packing: usize,
    /// The kernel's panel of tiles (its `nr`) and the floats of one packed panel of V.
    nr: usize,
    panel_len: usize,
}

impl PartialEq for Geometry {
    fn eq(&self, o: &Geometry) -> bool {
        (self.tile, self.cin, self.cout, self.hw, self.pad, self.out) == (o.tile, o.cin, o.cout, o.hw, o.pad, o.out)
            && self.mmm.name() == o.mmm.name()
            && self.packing == o.packing
    }
}
impl Eq for Geometry {}

impl Geometry {
    /// A convolution of `cin` channels of `hw` into `cout` of `out`, the input padded by
    /// `pad` rows above and columns to the left (and as `out` implies below and right).
    /// `None` where tract has no f32 kernel with a plainly packed operand for the products.
    pub fn new(
        tile: Tile,
        cin: usize,
        cout: usize,
        hw: [usize; 2],
        pad: [usize; 2],
        out: [usize; 2],
    ) -> Option<Geometry> {
        let m = tile.m();
        let tiles = [out[0].div_ceil(m), out[1].div_ceil(m)];
        let query = tract_linalg::mmm::Query::plain(DatumType::F32, Some(cout), Some(cin), Some(tiles[0] * tiles[1]));
        let (mmm, packing, extractor) = tract_linalg::MmmDispatch::native().pick(&query)?;
        let (a, b) = &mmm.packings()[packing];
        let b = b.downcast_ref::<PackedFormat>()?;
        if extractor.is_some() || !a.is::<PackedFormat>() || b.dt != DatumType::F32 {
            return None;
        }
        let (nr, panel_len) = (b.r, b.single_panel_len(cin));
        Some(Geometry { tile, cin, cout, hw, pad, out, tiles, mmm, packing, nr, panel_len })
    }

    /// Panels of `nr` tiles.
    fn panels(&self) -> usize {
        self.n_tiles().div_ceil(self.nr)
    }

    /// Floats of one plane of packed V.
    pub fn plane_len(&self) -> usize {
        self.panels() * self.panel_len
    }

    /// Where V's value for plane `p`, channel `c` and tile `t` lies in the packed V: plane
    /// after plane, each in panels of `nr` tiles holding their values channel after channel.
    /// (Interleaving the planes' panels, so that one tile's 36 values land closer together,
    /// measured slower in the browser: 76 ms against 54 for VGG16's input transforms.)
    pub fn packed_at(&self, p: usize, c: usize, t: usize) -> usize {
        p * self.plane_len() + t / self.nr * self.panel_len + c * self.nr + t % self.nr
    }

    /// Tile positions: (m + 2)².
    pub fn planes(&self) -> usize {
        self.tile.alpha() * self.tile.alpha()
    }

    /// Tiles per channel.
    pub fn n_tiles(&self) -> usize {
        self.tiles[0] * self.tiles[1]
    }
}

/// The weight transform G·g·Gᵀ of every (cout, cin) 3×3 kernel, computed in f64;
/// `w` is [cout, cin, 3, 3]; the result is [planes, cout, cin].
pub fn transform_weights(tile: Tile, w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let a = tile.alpha();
    let plane = cout * cin;
    let mut u = vec![0f32; a * a * plane];
    for (oc, k) in w.chunks_exact(9).enumerate().take(plane) {
        for (p, x) in transform_kernel(tile, k).iter().take(a * a).enumerate() {
            u[p * plane + oc] = *x;
        }
    }
    u
}

/// G·g·Gᵀ of one 3×3 kernel `k`, in f64 and rounded once: the (m+2)² values, plane by
/// plane (the rest of the 36 zero for F(2×2)).
fn transform_kernel(tile: Tile, k: &[f32]) -> [f32; 36] {
    const G2: [[f64; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
    const G4: [[f64; 3]; 6] = [
        [1.0 / 4.0, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];
    let g: &[[f64; 3]] = match tile {
        Tile::F2 => &G2,
        Tile::F4 => &G4,
    };
    let a = tile.alpha();
    // G·g: [a, 3]
    let mut gg = [[0f64; 3]; 6];
    for (i, row) in g.iter().enumerate() {
        for j in 0..3 {
            gg[i][j] = (0..3).map(|t| row[t] * k[t * 3 + j] as f64).sum();
        }
    }
    let mut u = [0f32; 36];
    for i in 0..a {
        for (j, gj) in g.iter().enumerate() {
            u[i * a + j] = (0..3).map(|t| gg[i][t] * gj[t]).sum::<f64>() as f32;
        }
    }
    u
}

/// Four f32 lanes: four adjacent tiles of a tile row, transformed together.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use std::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct F4(v128);

    impl F4 {
        #[inline(always)]
        pub fn zero() -> F4 {
            F4(f32x4_splat(0.0))
        }
        #[inline(always)]
        pub fn new(a: f32, b: f32, c: f32, d: f32) -> F4 {
            F4(f32x4(a, b, c, d))
        }
        #[inline(always)]
        pub fn splat(a: f32) -> F4 {
            F4(f32x4_splat(a))
        }
        /// The four floats at `s[0..4]`.
        #[inline(always)]
        pub fn load(s: &[f32]) -> F4 {
            assert!(s.len() >= 4);
            // SAFETY: the assert keeps the 16 bytes inside `s`; v128_load reads unaligned.
            F4(unsafe { v128_load(s.as_ptr() as *const v128) })
        }
        #[inline(always)]
        pub fn store(self, s: &mut [f32]) {
            assert!(s.len() >= 4);
            // SAFETY: the assert keeps the 16 bytes inside `s`; v128_store writes unaligned.
            unsafe { v128_store(s.as_mut_ptr() as *mut v128, self.0) }
        }
        #[inline(always)]
        pub fn lanes(self) -> [f32; 4] {
            [
                f32x4_extract_lane::<0>(self.0),
                f32x4_extract_lane::<1>(self.0),
                f32x4_extract_lane::<2>(self.0),
                f32x4_extract_lane::<3>(self.0),
            ]
        }
        #[inline(always)]
        pub fn max0(self) -> F4 {
            F4(f32x4_pmax(self.0, f32x4_splat(0.0)))
        }
        /// Rows become columns: `r[i]`'s lane j is the result's `[j]` lane i.
        #[inline(always)]
        pub fn transpose(r: [F4; 4]) -> [F4; 4] {
            let t0 = i32x4_shuffle::<0, 4, 1, 5>(r[0].0, r[1].0);
            let t1 = i32x4_shuffle::<2, 6, 3, 7>(r[0].0, r[1].0);
            let t2 = i32x4_shuffle::<0, 4, 1, 5>(r[2].0, r[3].0);
            let t3 = i32x4_shuffle::<2, 6, 3, 7>(r[2].0, r[3].0);
            [
                F4(i64x2_shuffle::<0, 2>(t0, t2)),
                F4(i64x2_shuffle::<1, 3>(t0, t2)),
                F4(i64x2_shuffle::<0, 2>(t1, t3)),
                F4(i64x2_shuffle::<1, 3>(t1, t3)),
            ]
        }
    }

    impl std::ops::Add for F4 {
        type Output = F4;
        #[inline(always)]
        fn add(self, o: F4) -> F4 {
            F4(f32x4_add(self.0, o.0))
        }
    }
    impl std::ops::Sub for F4 {
        type Output = F4;
        #[inline(always)]
        fn sub(self, o: F4) -> F4 {
            F4(f32x4_sub(self.0, o.0))
        }
    }
    impl std::ops::Mul<f32> for F4 {
        type Output = F4;
        #[inline(always)]
        fn mul(self, k: f32) -> F4 {
            F4(f32x4_mul(self.0, f32x4_splat(k)))
        }
    }
}

/// Four f32 lanes: four adjacent tiles of a tile row, transformed together.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    #[derive(Clone, Copy)]
    pub struct F4([f32; 4]);

    impl F4 {
        #[inline(always)]
        pub fn zero() -> F4 {
            F4([0.0; 4])
        }
        #[inline(always)]
        pub fn new(a: f32, b: f32, c: f32, d: f32) -> F4 {
            F4([a, b, c, d])
        }
        #[inline(always)]
        pub fn splat(a: f32) -> F4 {
            F4([a; 4])
        }
        #[inline(always)]
        pub fn load(s: &[f32]) -> F4 {
            F4([s[0], s[1], s[2], s[3]])
        }
        #[inline(always)]
        pub fn store(self, s: &mut [f32]) {
            s[..4].copy_from_slice(&self.0);
        }
        #[inline(always)]
        pub fn lanes(self) -> [f32; 4] {
            self.0
        }
        #[inline(always)]
        pub fn max0(self) -> F4 {
            F4(self.0.map(|x| x.max(0.0)))
        }
        #[inline(always)]
        pub fn transpose(r: [F4; 4]) -> [F4; 4] {
            std::array::from_fn(|i| F4(std::array::from_fn(|j| r[j].0[i])))
        }
    }

    impl std::ops::Add for F4 {
        type Output = F4;
        #[inline(always)]
        fn add(self, o: F4) -> F4 {
            F4(std::array::from_fn(|i| self.0[i] + o.0[i]))
        }
    }
    impl std::ops::Sub for F4 {
        type Output = F4;
        #[inline(always)]
        fn sub(self, o: F4) -> F4 {
            F4(std::array::from_fn(|i| self.0[i] - o.0[i]))
        }
    }
    impl std::ops::Mul<f32> for F4 {
        type Output = F4;
        #[inline(always)]
        fn mul(self, k: f32) -> F4 {
            F4(self.0.map(|x| x * k))
        }
    }
}

use lanes::F4;

/// Bᵀ·d for one column of an F(4×4) input tile.
#[inline(always)]
fn bt4(d: [F4; 6]) -> [F4; 6] {
    let [d0, d1, d2, d3, d4, d5] = d;
    [
        d0 * 4.0 - d2 * 5.0 + d4,
        d4 + d3 - (d1 + d2) * 4.0,
        d4 - d3 + (d1 - d2) * 4.0,
        d4 - d2 + (d3 - d1) * 2.0,
        d4 - d2 - (d3 - d1) * 2.0,
        d1 * 4.0 - d3 * 5.0 + d5,
    ]
}

/// Bᵀ·d for one column of an F(2×2) input tile.
#[inline(always)]
fn bt2(d: [F4; 4]) -> [F4; 4] {
    let [d0, d1, d2, d3] = d;
    [d0 - d2, d1 + d2, d2 - d1, d1 - d3]
}

/// Aᵀ·m for one column of an F(4×4) product tile.
#[inline(always)]
fn at4(m: [F4; 6]) -> [F4; 4] {
    let [m0, m1, m2, m3, m4, m5] = m;
    let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
    [m0 + s12 + s34, d12 + d34 * 2.0, s12 + s34 * 4.0, d12 + d34 * 8.0 + m5]
}

/// Aᵀ·m for one column of an F(2×2) product tile.
#[inline(always)]
fn at2(m: [F4; 4]) -> [F4; 2] {
    let [m0, m1, m2, m3] = m;
    [m0 + m1 + m2, m1 - m2 - m3]
}

/// The packed V, shared by the threads of `par_channels`, each of which fills its own tile
/// rows: a pointer and a length, handed out as short-lived disjoint parts.
#[derive(Clone, Copy)]
struct Shared {
    ptr: *mut f32,
    len: usize,
}
// SAFETY: the pointer is only dereferenced through `part`, whose callers on different threads
// ask for disjoint ranges (their own tile rows), and `par_channels` returns only when every
// thread is done, so the buffer outlives every use.
unsafe impl Send for Shared {}
// SAFETY: as for Send: threads write disjoint ranges only, and nothing reads meanwhile.
unsafe impl Sync for Shared {}

impl Shared {
    fn new(v: &mut [f32]) -> Shared {
        Shared { ptr: v.as_mut_ptr(), len: v.len() }
    }

    /// The floats `at..at + n`, to write. A caller holds one part at a time, and callers on
    /// different threads ask for disjoint ranges.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    fn part(&self, at: usize, n: usize) -> &mut [f32] {
        assert!(at + n <= self.len, "Winograd V: {at}+{n} past {}", self.len);
        // SAFETY: in bounds (asserted) of a live buffer (see Send); no other reference to these
        // floats exists meanwhile: the thread's previous part is gone, other threads write
        // other tile rows' elements, and the buffer's owner waits in `par_channels`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(at), n) }
    }
}

/// Runs `f(first, count)` over `n` channels, split over tract's threads where it has them.
fn par_channels(n: usize, work: usize, f: impl Fn(usize, usize) -> TractResult<()> + Sync + Send) -> TractResult<()> {
    let mut ids = vec![(); n];
    tract_linalg::multithread::par_chunks_mut(&mut ids, 1, work, |first, chunk| f(first, chunk.len()))
}

/// The input transform: input [1, cin, h, w] → V, [planes, panels × panel]: for each plane
/// the B operand of its product, in the packed layout tract's kernel reads
/// ([`Geometry::packed_at`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WinogradInput {
    pub g: Geometry,
}

impl WinogradInput {
    /// Transforms `x` ([cin, h, w]) into the packed `v` ([`Geometry::packed_at`]).
    pub fn run(&self, x: &[f32], v: &mut [f32]) -> TractResult<()> {
        let g = &self.g;
        let [h, w] = g.hw;
        let (planes, nt, nr) = (g.planes(), g.n_tiles(), g.nr);
        ensure!(x.len() == g.cin * h * w && v.len() == planes * g.plane_len(), "WinogradInput: sizes");
        // what no channel writes: each panel's records past the last channel, and the
        // tiles past the last in the last panel
        for panel in v.chunks_exact_mut(g.panel_len) {
            panel[g.cin * nr..].fill(0.0);
        }
        if nt % nr != 0 {
            for p in 0..planes {
                for c in 0..g.cin {
                    let at = g.packed_at(p, c, nt);
                    v[at..at + nr - nt % nr].fill(0.0);
                }
            }
        }
        debug_assert_eq!(v.len(), planes * g.plane_len());
        let (work, v) = (v.len(), Shared::new(v));
        // each tile row writes only its own tiles' values (a panel two rows share, each its own
        // lanes of it)
        par_channels(g.tiles[0], work, |first, count| {
            match g.tile {
                Tile::F2 => input_rows::<4, 2>(g, first..first + count, x, v, bt2),
                Tile::F4 => input_rows::<6, 4>(g, first..first + count, x, v, bt4),
            }
            Ok(())
        })
    }
}

/// The input transform of tile rows `tile_rows`, all channels, with tile side `A`
/// (= M + 2) and transform `bt`, into the packed V `v`. Channels inside tile rows: the
/// packed V holds a panel's channels side by side, so consecutive writes land together.
#[inline(always)]
fn input_rows<const A: usize, const M: usize>(
    g: &Geometry,
    tile_rows: std::ops::Range<usize>,
    x: &[f32],
    v: Shared,
    bt: fn([F4; A]) -> [F4; A],
) {
    let [h, w] = g.hw;
    let tw = g.tiles[1];
    // A rows of the padded input, wide enough for every group of four tiles to read whole
    // (zeros past the input's right edge and in the padding)
    let groups = tw.div_ceil(4);
    let width = (M * 4 * groups + A).max(g.pad[1] + w);
    let mut rows = vec![0f32; A * width];
    for (ti, c) in tile_rows.flat_map(|ti| (0..g.cin).map(move |c| (ti, c))) {
        let x = &x[c * h * w..(c + 1) * h * w];
        for r in 0..A {
            let row = &mut rows[r * width..(r + 1) * width];
            let y = (ti * M + r).wrapping_sub(g.pad[0]);
            if y < h {
                row[g.pad[1]..g.pad[1] + w].copy_from_slice(&x[y * w..(y + 1) * w]);
            } else {
                row[g.pad[1]..g.pad[1] + w].fill(0.0);
            }
        }
        for group in 0..groups {
            let col0 = group * 4 * M;
            // d[r][c]: lanes are the four tiles' element (r, c)
            let mut d = [[F4::zero(); A]; A];
            for (r, dr) in d.iter_mut().enumerate() {
                let row = &rows[r * width + col0..];
                if M == 4 {
                    // tile l's column c is row[4l + c]: five loads, two 4×4 transposes
                    let v: [F4; 5] = std::array::from_fn(|i| F4::load(&row[4 * i..]));
                    let lo = F4::transpose([v[0], v[1], v[2], v[3]]);
                    let hi = F4::transpose([v[1], v[2], v[3], v[4]]);
                    for (c, drc) in dr.iter_mut().enumerate() {
                        *drc = if c < 4 { lo[c] } else { hi[c - 4] };
                    }
                } else {
                    for (c, drc) in dr.iter_mut().enumerate() {
                        *drc = F4::new(row[c], row[M + c], row[2 * M + c], row[3 * M + c]);
                    }
                }
            }
            // rows of Bᵀ·d, then (Bᵀ·d)·B one row at a time
            let mut cols = [[F4::zero(); A]; A];
            for col in 0..A {
                let t = bt(std::array::from_fn(|r| d[r][col]));
                for r in 0..A {
                    cols[r][col] = t[r];
                }
            }
            let t0 = ti * tw + group * 4;
            let lanes = (tw - group * 4).min(4);
            // four tiles side by side in one panel: one store; else a tile at a time
            let whole = lanes == 4 && t0 % g.nr + 4 <= g.nr;
            let (base, plane_len) = (g.packed_at(0, c, t0), g.plane_len());
            for (r, cr) in cols.iter().enumerate() {
                let t = bt(*cr);
                for (col, tc) in t.iter().enumerate() {
                    let p = r * A + col;
                    if whole {
                        let at = base + p * plane_len;
                        tc.store(v.part(at, 4));
                    } else {
                        for (l, x) in tc.lanes()[..lanes].iter().enumerate() {
                            v.part(g.packed_at(p, c, t0 + l), 1)[0] = *x;
                        }
                    }
                }
            }
        }
    }
}

impl Op for WinogradInput {
    fn name(&self) -> StaticName {
        "WinogradInput".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.g;
        Ok(vec![format!("{:?}, {}x{}x{}, {}x{} tiles", g.tile, g.cin, g.hw[0], g.hw[1], g.tiles[0], g.tiles[1])])
    }

    op_as_typed_op!();
}

impl EvalOp for WinogradInput {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = inputs[0].try_as_plain_ram()?.as_slice::<f32>()?;
        let g = &self.g;
        // SAFETY: f32 has no invalid bit patterns, and `run` writes every element (its padding
        // included) before the tensor is read
        let mut v = unsafe { Tensor::uninitialized::<f32>(&[g.planes(), g.plane_len()])? };
        self.run(x, v.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?)?;
        Ok(tvec!(v.into_tvalue()))
    }
}

impl TypedOp for WinogradInput {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let g = &self.g;
        ensure!(
            inputs[0].shape.as_concrete() == Some(&[1, g.cin, g.hw[0], g.hw[1]][..]),
            "WinogradInput: input {:?}",
            inputs[0]
        );
        Ok(tvec!(f32::fact([g.planes(), g.plane_len()])))
    }

    as_op!();
}

/// The products: M[p] = U[p]·V[p] for each plane p, U packed once at load, V packed by
/// [`WinogradInput`]; M is [planes, cout, tiles]. The planes are split over tract's
/// threads, each plane's product on one thread.
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
/// fc6's block, and wasm memory grew by it: VGG16's peak was 1858 MiB, against 1074 with
/// tract's own convolutions.
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

/// One plane of the packed V, where [`WinogradInput`] wrote it: the B operand of a product.
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
        // SAFETY: f32 has no invalid bit patterns, and `run` writes every plane's cout x tiles
        // products before the tensor is read
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

/// The output transform: M [planes, cout, tiles] → output [1, cout, ho, wo], plus the bias,
/// then the folded ReLU if any, then the folded 2×2 max pooling if any (output
/// [1, cout, ho / 2, wo / 2]: VGG's pools take a quarter of the conv output, and a tile row
/// of F(4×4) or F(2×2) holds whole pooling windows).
#[derive(Clone, Debug, PartialEq)]
pub struct WinogradOutput {
    pub g: Geometry,
    pub bias: Vec<f32>,
    pub relu: bool,
    pub pool: bool,
}

// the bias compares as floats: equal ops are those with equal biases
impl Eq for WinogradOutput {}

impl WinogradOutput {
    /// The output's height and width.
    pub fn out(&self) -> [usize; 2] {
        let [ho, wo] = self.g.out;
        if self.pool {
            [ho / 2, wo / 2]
        } else {
            [ho, wo]
        }
    }

    /// Transforms `m` ([planes, cout, tiles]) into `y` ([cout, out]).
    pub fn run(&self, m: &[f32], y: &mut [f32]) -> TractResult<()> {
        let g = &self.g;
        let area = self.out()[0] * self.out()[1];
        let (planes, nt) = (g.planes(), g.n_tiles());
        ensure!(m.len() == g.cout * planes * nt && y.len() == g.cout * area && area > 0, "WinogradOutput: sizes");
        tract_linalg::multithread::par_chunks_mut(y, area, m.len(), |first, chunk| {
            for (i, yc) in chunk.chunks_exact_mut(area).enumerate() {
                let o = first + i;
                // plane p of channel o is at (p · cout + o) · tiles
                let (mo, stride, bias) = (&m[o * nt..], g.cout * nt, self.bias[o]);
                match g.tile {
                    Tile::F2 => output_channel::<4, 2>(g, mo, stride, yc, bias, self.relu, self.pool, at2),
                    Tile::F4 => output_channel::<6, 4>(g, mo, stride, yc, bias, self.relu, self.pool, at4),
                }
            }
            Ok(())
        })
    }
}

/// One output channel's transform with tile side `A` (= M + 2) and transform `at`; plane p
/// of the channel's product starts at `m[p * stride]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // one call site per tile size; the loop's parameters, flat
fn output_channel<const A: usize, const M: usize>(
    g: &Geometry,
    m: &[f32],
    stride: usize,
    y: &mut [f32],
    bias: f32,
    relu: bool,
    pool: bool,
    at: fn([F4; A]) -> [F4; M],
) {
    let [ho, wo] = g.out;
    let [th, tw] = g.tiles;
    let groups = tw.div_ceil(4);
    // M output rows of the tile row, wide enough for whole groups
    let width = M * 4 * groups;
    let mut rows = vec![0f32; M * width];
    for ti in 0..th {
        for group in 0..groups {
            let t0 = ti * tw + group * 4;
            let lanes = (tw - group * 4).min(4);
            let load = |p: usize| {
                let s = &m[p * stride + t0..];
                if lanes == 4 {
                    F4::load(s)
                } else {
                    let mut l = [0f32; 4];
                    l[..lanes].copy_from_slice(&s[..lanes]);
                    F4::new(l[0], l[1], l[2], l[3])
                }
            };
            // Aᵀ·m, then (Aᵀ·m)·A one row at a time
            let mut half = [[F4::zero(); A]; M];
            for c in 0..A {
                let t = at(std::array::from_fn(|r| load(r * A + c)));
                for (hr, tr) in half.iter_mut().zip(t) {
                    hr[c] = tr;
                }
            }
            for (r, hr) in half.iter().enumerate() {
                let mut t = at(*hr).map(|v| v + F4::splat(bias));
                if relu {
                    t = t.map(F4::max0);
                }
                // lanes are tiles, t[c] their column c: four tiles' M columns side by side
                let row = &mut rows[r * width + group * 4 * M..];
                if let &[a, b, c, d] = &t[..] {
                    for (l, col) in F4::transpose([a, b, c, d]).iter().enumerate() {
                        col.store(&mut row[l * 4..l * 4 + 4]);
                    }
                } else {
                    for (c, tc) in t.iter().enumerate() {
                        for (l, x) in tc.lanes().iter().enumerate() {
                            row[l * M + c] = *x;
                        }
                    }
                }
            }
        }
        if pool {
            // M / 2 rows of windows; a window past the output's last row or column is not one
            let (hp, wp) = (ho / 2, wo / 2);
            for r in 0..M / 2 {
                let py = ti * M / 2 + r;
                if py < hp {
                    let (a, b) = (&rows[2 * r * width..], &rows[(2 * r + 1) * width..]);
                    for (px, out) in y[py * wp..(py + 1) * wp].iter_mut().enumerate() {
                        *out = a[2 * px].max(a[2 * px + 1]).max(b[2 * px].max(b[2 * px + 1]));
                    }
                }
            }
        } else {
            for r in 0..M {
                let yy = ti * M + r;
                if yy < ho {
                    y[yy * wo..(yy + 1) * wo].copy_from_slice(&rows[r * width..r * width + wo]);
                }
            }
        }
    }
}

impl Op for WinogradOutput {
    fn name(&self) -> StaticName {
        "WinogradOutput".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.g;
        let (relu, pool) = (if self.relu { ", relu" } else { "" }, if self.pool { ", max pool 2x2" } else { "" });
        Ok(vec![format!("{:?}, {}x{}x{}{relu}{pool}", g.tile, g.cout, g.out[0], g.out[1])])
    }

    op_as_typed_op!();
}

impl EvalOp for WinogradOutput {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let m = inputs[0].try_as_plain_ram()?.as_slice::<f32>()?;
        let g = &self.g;
        let [h, w] = self.out();
        // SAFETY: f32 has no invalid bit patterns, and `run` writes every output pixel (each
        // tile's 4x4 or 2x2 outputs, clipped at the edges) before the tensor is read
        let mut y = unsafe { Tensor::uninitialized::<f32>(&[1, g.cout, h, w])? };
        self.run(m, y.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?)?;
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for WinogradOutput {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let g = &self.g;
        ensure!(
            inputs[0].shape.as_concrete() == Some(&[g.planes(), g.cout, g.n_tiles()][..]),
            "WinogradOutput: input {:?}",
            inputs[0]
        );
        let [h, w] = self.out();
        Ok(tvec!(f32::fact([1, g.cout, h, w])))
    }

    as_op!();
}
