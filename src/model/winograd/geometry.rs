//! The tile choice ([`Tile`], [`Tile::auto`]) and the shapes one Winograd convolution works
//! on ([`Geometry`]): its tiles, tract's matrix kernel for the products, and the packed
//! layout of V that the input transform writes and the kernel reads.

use tract_linalg::mmm::MatMatMul;
use tract_linalg::pack::PackedFormat;
use tract_onnx::prelude::tract_linalg;
use tract_onnx::tract_hir::internal::*;

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

/// The shapes one Winograd convolution works on.
#[derive(Clone, Debug)]
pub struct Geometry {
    pub(super) tile: Tile,
    pub(super) cin: usize,
    pub(super) cout: usize,
    /// Input height and width.
    pub(super) hw: [usize; 2],
    /// Padding before, rows and columns (after is whatever the output size implies).
    pub(super) pad: [usize; 2],
    /// Output height and width.
    pub(super) out: [usize; 2],
    /// Tile rows and columns: ceil(out / m).
    pub(super) tiles: [usize; 2],
    /// tract's matrix kernel for the products, and which of its packings they use.
    pub(super) mmm: Box<dyn MatMatMul>,
    pub(super) packing: usize,
    /// The kernel's panel of tiles (its `nr`) and the floats of one packed panel of V.
    pub(super) nr: usize,
    pub(super) panel_len: usize,
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
