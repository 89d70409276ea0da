//! Pixels to the model's input tensor: the one place where preprocessing happens.
//!
//! A [`PreprocessSpec`] says how a model wants its pixels (channel order, scale, mean, std,
//! geometry, layout). [`Preprocessor::prepare`] turns straight RGBA bytes, as a canvas's
//! `ImageData` holds them, into that tensor. Alpha is ignored: canvases hand over
//! un-premultiplied colour, which is what the training pipelines saw.

use anyhow::{bail, ensure, Context, Result};
use image::imageops::FilterType;
use image::RgbaImage;
use serde::{Deserialize, Serialize};

/// ImageNet channel means, RGB, on the 0–1 scale: torchvision's `transforms.Normalize`
/// values used by every torchvision and ONNX Model Zoo ImageNet model.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations, RGB, on the 0–1 scale (torchvision, as above).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// Mean pixel of the original Caffe VGG models, listed here in R, G, B order
/// (the VGG team's release lists B 103.939, G 116.779, R 123.68; Keras `preprocess_input`
/// mode "caffe" uses the same numbers).
pub const CAFFE_MEAN: [f32; 3] = [123.68, 116.779, 103.939];
/// The ImageNet evaluation convention (torchvision reference scripts, and VGG's own
/// single-scale test with Q = S = 256): shorter side to 256, then a 224 centre crop.
pub const IMAGENET_RESIZE_RATIO: f32 = 256.0 / 224.0;

/// Order of the colour channels the model expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    /// Red, green, blue (torchvision, ONNX Model Zoo).
    Rgb,
    /// Blue, green, red (Caffe, Keras "caffe" mode).
    Bgr,
    /// One luminance channel: ITU-R BT.601 luma, as PIL's `convert("L")`.
    Gray,
}

impl ChannelOrder {
    pub fn channels(self) -> usize {
        match self {
            ChannelOrder::Gray => 1,
            _ => 3,
        }
    }
}

/// Memory layout of the input tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// [batch, channels, height, width]: PyTorch, MXNet, Caffe2 exports.
    Nchw,
    /// [batch, height, width, channels]: Keras / TensorFlow exports.
    Nhwc,
}

impl Layout {
    /// Where channels, height and width sit in a rank-4 shape of this layout.
    pub fn axes(self) -> [usize; 3] {
        match self {
            Layout::Nchw => [1, 2, 3],
            Layout::Nhwc => [3, 1, 2],
        }
    }

    /// The channels and [height, width] of a rank-4 `shape` of this layout; `None` for
    /// another rank.
    pub fn chw<T: Copy>(self, shape: &[T]) -> Option<(T, [T; 2])> {
        let [c, h, w] = self.axes();
        (shape.len() == 4).then(|| (shape[c], [shape[h], shape[w]]))
    }
}

/// Named normalisation conventions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// RGB, /255, [`IMAGENET_MEAN`], [`IMAGENET_STD`].
    Imagenet,
    /// BGR, 0–255, minus [`CAFFE_MEAN`], no std.
    Caffe,
}

/// A preprocessing spec as a user writes it (options object or JSON sidecar): every
/// field optional, applied over a preset. Unknown fields are refused so that a typo
/// is reported instead of silently ignored.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpecOptions {
    pub preset: Option<Preset>,
    pub channel_order: Option<ChannelOrder>,
    /// Multiplier applied to 0–255 values before mean and std.
    pub scale: Option<f32>,
    /// Per-channel mean in R, G, B order whatever `channel_order` is, after `scale`.
    pub mean: Option<[f32; 3]>,
    /// Per-channel std in R, G, B order, after `scale`.
    pub std: Option<[f32; 3]>,
    /// Shorter side after resizing, in pixels; `0` means no resize.
    pub resize: Option<u32>,
    /// Centre crop `[height, width]` in pixels; `[0, 0]` means no crop.
    pub crop: Option<[u32; 2]>,
    /// Black border added on every side after the crop, in pixels (Fashion-MNIST's
    /// 28x28 images were padded to 32x32 this way).
    pub pad: Option<u32>,
    pub layout: Option<Layout>,
}

/// A fully resolved preprocessing spec.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreprocessSpec {
    pub channel_order: ChannelOrder,
    pub scale: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Shorter side after a bilinear (antialiased) resize; `None` keeps the image size.
    pub resize: Option<u32>,
    /// Centre crop `[height, width]`; `None` keeps the whole (resized) image.
    pub crop: Option<[u32; 2]>,
    /// Black border added on every side after the crop.
    pub pad: u32,
    pub layout: Layout,
}

impl PreprocessSpec {
    /// The normalisation of `preset` with no geometry.
    pub fn preset(preset: Preset) -> Self {
        match preset {
            Preset::Imagenet => PreprocessSpec {
                channel_order: ChannelOrder::Rgb,
                scale: 1.0 / 255.0,
                mean: IMAGENET_MEAN,
                std: IMAGENET_STD,
                resize: None,
                crop: None,
                pad: 0,
                layout: Layout::Nchw,
            },
            Preset::Caffe => PreprocessSpec {
                channel_order: ChannelOrder::Bgr,
                scale: 1.0,
                mean: CAFFE_MEAN,
                std: [1.0; 3],
                resize: None,
                crop: None,
                pad: 0,
                layout: Layout::Nchw,
            },
        }
    }

    /// The standard ImageNet evaluation spec: resize 256, centre crop 224.
    pub fn imagenet_224() -> Self {
        PreprocessSpec { resize: Some(256), crop: Some([224, 224]), ..Self::preset(Preset::Imagenet) }
    }

    /// Resolves user options against a model whose input spatial size is `fixed_hw`
    /// (`None` where the graph leaves height and width dynamic).
    ///
    /// Geometry not given by the user follows the ImageNet convention scaled to the
    /// model: crop to the fixed input size, after resizing the shorter side to
    /// `crop * 256 / 224`. A model with dynamic height and width gets neither, so it sees
    /// the image at its own size.
    pub fn resolve(opts: &SpecOptions, fixed_hw: Option<[u32; 2]>) -> Result<Self> {
        let base = Self::preset(opts.preset.unwrap_or(Preset::Imagenet));
        let pad = opts.pad.unwrap_or(0);
        // the crop that, once padded, gives the graph's fixed size
        let fixed_hw = match fixed_hw {
            Some([h, w]) if h > pad.saturating_mul(2) && w > pad.saturating_mul(2) => Some([h - 2 * pad, w - 2 * pad]),
            Some(hw) if pad > 0 => bail!("preprocess.pad {pad} leaves nothing of the model's {hw:?} input"),
            other => other,
        };
        let crop = match opts.crop {
            Some([0, 0]) => None,
            Some([h, w]) if h == 0 || w == 0 => {
                bail!("preprocess.crop must have both sides > 0 (or be [0, 0] for none), got [{h}, {w}]")
            }
            Some(c) => Some(c),
            None => fixed_hw,
        };
        let resize = match opts.resize {
            Some(0) => None,
            Some(s) => Some(s),
            None => crop.map(|[h, w]| (h.min(w) as f32 * IMAGENET_RESIZE_RATIO).round() as u32),
        };
        let spec = PreprocessSpec {
            channel_order: opts.channel_order.unwrap_or(base.channel_order),
            scale: opts.scale.unwrap_or(base.scale),
            mean: opts.mean.unwrap_or(base.mean),
            std: opts.std.unwrap_or(base.std),
            resize,
            crop,
            pad,
            layout: opts.layout.unwrap_or(base.layout),
        };
        spec.validate()?;
        if let (Some(r), Some([h, w])) = (spec.resize, spec.crop) {
            // the shorter side becomes r, so a crop fits some image only if its shorter side does
            ensure!(h.min(w) <= r, "preprocess.crop [{h}, {w}] cannot fit any image resized to a shorter side of {r}");
        }
        Ok(spec)
    }

    fn validate(&self) -> Result<()> {
        ensure!(
            self.scale.is_finite() && self.scale != 0.0,
            "preprocess.scale must be a finite non-zero number, got {}",
            self.scale
        );
        ensure!(self.mean.iter().all(|m| m.is_finite()), "preprocess.mean must be finite, got {:?}", self.mean);
        ensure!(
            self.std.iter().all(|s| s.is_finite() && *s != 0.0),
            "preprocess.std must be finite and non-zero, got {:?}",
            self.std
        );
        Ok(())
    }

    /// Output height and width for an image of `width` x `height`.
    pub fn output_hw(&self, width: u32, height: u32) -> Result<[u32; 2]> {
        let [h, w] = self.cropped_hw(width, height)?;
        let padded = |v: u32| self.pad.checked_mul(2).and_then(|p| v.checked_add(p));
        match (padded(h), padded(w)) {
            (Some(h), Some(w)) => Ok([h, w]),
            _ => bail!("preprocess.pad {} makes the image larger than 2^32 pixels a side", self.pad),
        }
    }

    /// Height and width after resize and crop, before padding.
    fn cropped_hw(&self, width: u32, height: u32) -> Result<[u32; 2]> {
        let [rw, rh] = self.resized_wh(width, height);
        match self.crop {
            None => Ok([rh, rw]),
            Some([ch, cw]) => {
                ensure!(
                    ch <= rh && cw <= rw,
                    "preprocess.crop [{ch}, {cw}] is larger than the resized image {rw}x{rh} \
                     (from {width}x{height}, resize {:?})",
                    self.resize
                );
                Ok([ch, cw])
            }
        }
    }

    /// Size after the resize step, as torchvision's `Resize(int)` computes it: the shorter
    /// side becomes `resize`, the longer one is scaled and truncated.
    pub fn resized_wh(&self, width: u32, height: u32) -> [u32; 2] {
        match self.resize {
            None => [width, height],
            // (saturating: a resize that large is refused by the pixel limit anyway)
            Some(s) if width <= height => {
                [s, ((s as u64 * height as u64) / width as u64).clamp(1, u32::MAX as u64) as u32]
            }
            Some(s) => [((s as u64 * width as u64) / height as u64).clamp(1, u32::MAX as u64) as u32, s],
        }
    }

    /// Tensor shape for an output of `hw`, batch 1.
    pub fn tensor_shape(&self, [h, w]: [u32; 2]) -> [usize; 4] {
        let c = self.channel_order.channels();
        let (h, w) = (h as usize, w as usize);
        match self.layout {
            Layout::Nchw => [1, c, h, w],
            Layout::Nhwc => [1, h, w, c],
        }
    }
}

/// Where the input tensor's pixels come from in the original image: tensor pixel
/// (`x`, `y`) shows original pixel ((x - pad + left) / scale_x, (y - pad + top) / scale_y).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Geometry {
    /// Resized image size over original size, per axis.
    pub scale_x: f64,
    pub scale_y: f64,
    /// Crop offset in the resized image.
    pub left: u32,
    pub top: u32,
    /// Black border added around the crop.
    pub pad: u32,
    /// Size of the input tensor's spatial plane.
    pub width: u32,
    pub height: u32,
}

impl PreprocessSpec {
    /// How an image of `width` x `height` maps onto the input tensor.
    pub fn geometry(&self, width: u32, height: u32) -> Result<Geometry> {
        ensure!(width > 0 && height > 0, "image width and height must be > 0, got {width}x{height}");
        let [rw, rh] = self.resized_wh(width, height);
        let [ch, cw] = self.cropped_hw(width, height)?;
        let [out_h, out_w] = self.output_hw(width, height)?;
        Ok(Geometry {
            scale_x: rw as f64 / width as f64,
            scale_y: rh as f64 / height as f64,
            left: round_half_even((rw - cw) as f64 / 2.0),
            top: round_half_even((rh - ch) as f64 / 2.0),
            pad: self.pad,
            width: out_w,
            height: out_h,
        })
    }
}

/// A prepared input: the tensor, its shape, and the RGBA pixels it was made from after
/// resize and crop (what the model sees, for display).
#[derive(Clone, Debug)]
pub struct Prepared {
    pub tensor: Vec<f32>,
    pub shape: [usize; 4],
    pub view: RgbaImage,
}

/// The largest image accepted, in pixels (width x height): 100 megapixels, 400 MB of RGBA.
/// Larger ones are refused before anything is allocated for them; wasm32 has 4 GiB in all.
pub const MAX_PIXELS: u64 = 100_000_000;

/// The most pixels a resize may make beyond the image's own: 2^24 (64 MiB of RGBA). Only an
/// image far longer than it is wide (or the reverse) gets near it: a 32x28693 one, resized
/// to 256 on its shorter side before a 224 crop, would be 256x229544 (59 megapixels, 235 MB
/// that wasm memory keeps, and 20 s under the fuzzer) for the 224x224 the crop keeps.
pub const MAX_RESIZED_PIXELS: u64 = 1 << 24;

/// The pixel count of a `width` x `height` image, refused above [`MAX_PIXELS`]: checked
/// before anything is allocated for the image.
pub fn check_size(width: u32, height: u32) -> Result<u64> {
    let pixels = width as u64 * height as u64; // at most (2^32 - 1)^2: fits u64
    ensure!(pixels <= MAX_PIXELS, "image {width}x{height} has {pixels} pixels, more than the {MAX_PIXELS} accepted");
    Ok(pixels)
}

/// Checks that `rgba` is a `width` x `height` RGBA buffer and wraps it.
pub fn rgba_image(rgba: &[u8], width: u32, height: u32) -> Result<RgbaImage> {
    ensure!(width > 0 && height > 0, "image width and height must be > 0, got {width}x{height}");
    let expected = check_size(width, height)? * 4;
    ensure!(rgba.len() as u64 == expected, "RGBA buffer has {} bytes, but {width}x{height}x4 = {expected}", rgba.len());
    RgbaImage::from_raw(width, height, rgba.to_vec())
        .with_context(|| format!("RGBA buffer does not fit {width}x{height}"))
}

/// Decodes PNG or JPEG bytes to RGBA.
pub fn decode_image(bytes: &[u8]) -> Result<RgbaImage> {
    ensure!(!bytes.is_empty(), "image bytes are empty");
    let what = || format!("decoding image ({} bytes; PNG and JPEG are supported)", bytes.len());
    use image::ImageDecoder;
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().with_context(what)?;
    // the header is read once; its size is checked, by this crate's own limit, before any
    // pixel is allocated (a header too large for a 32-bit address space fails already here,
    // on wasm32, as a limit)
    reader.no_limits();
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| match e {
            image::ImageError::Limits(_) => {
                anyhow::anyhow!("its header declares more than the {MAX_PIXELS} pixels accepted")
            }
            e => anyhow::Error::new(e),
        })
        .with_context(what)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height)?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 8); // RGBA8 and the decoder's own buffer
    decoder.set_limits(limits).with_context(what)?;
    Ok(image::DynamicImage::from_decoder(decoder).with_context(what)?.to_rgba8())
}

/// Resize, centre-crop and normalise `img` per `spec`.
pub fn prepare(img: &RgbaImage, spec: &PreprocessSpec) -> Result<Prepared> {
    let (width, height) = img.dimensions();
    let [rw, rh] = spec.resized_wh(width, height);
    // a resize or pad can ask for far more pixels than the image has
    let too_many = |w: u32, h: u32| w as u64 * h as u64 > MAX_PIXELS;
    let padded = if too_many(rw, rh) { [rh, rw] } else { spec.output_hw(width, height)? };
    for (what, [w, h]) in [("resized", [rw, rh]), ("padded", [padded[1], padded[0]])] {
        let pixels = w as u64 * h as u64;
        ensure!(
            pixels <= MAX_PIXELS,
            "the {what} image would be {w}x{h} = {pixels} pixels, more than the {MAX_PIXELS} accepted \
             (image {width}x{height}, resize {:?}, pad {})",
            spec.resize,
            spec.pad
        );
    }
    let resized_pixels = rw as u64 * rh as u64;
    ensure!(
        [rw, rh] == [width, height] || resized_pixels <= MAX_RESIZED_PIXELS.max(width as u64 * height as u64),
        "the resized image would be {rw}x{rh} = {resized_pixels} pixels, more than the {MAX_RESIZED_PIXELS} a resize \
         may make (image {width}x{height}, {:.0}:1, resize {:?})",
        width.max(height) as f64 / width.min(height).max(1) as f64,
        spec.resize
    );
    let [out_h, out_w] = spec.cropped_hw(width, height)?;
    // resize (antialiased bilinear, as PIL's BILINEAR that torchvision uses on PIL images)
    let resized;
    let src = if [rw, rh] == [width, height] {
        img
    } else {
        resized = image::imageops::resize(img, rw, rh, FilterType::Triangle);
        &resized
    };
    // centre crop, offsets rounded as torchvision's CenterCrop does (Python round)
    let Geometry { top, left, .. } = spec.geometry(width, height)?;
    let mut view = image::imageops::crop_imm(src, left, top, out_w, out_h).to_image();
    if spec.pad > 0 {
        // black border, opaque
        let p = spec.pad;
        let mut padded = RgbaImage::from_pixel(out_w + 2 * p, out_h + 2 * p, image::Rgba([0, 0, 0, 255]));
        image::imageops::replace(&mut padded, &view, p as i64, p as i64);
        view = padded;
    }
    let tensor = normalise(&view, spec);
    let (w, h) = view.dimensions();
    Ok(Prepared { tensor, shape: spec.tensor_shape([h, w]), view })
}

/// Python's `round()` on non-negative halves: ties go to the even neighbour.
fn round_half_even(x: f64) -> u32 {
    let r = x.round();
    let r = if (x - x.trunc() - 0.5).abs() < f64::EPSILON && r % 2.0 != 0.0 { r - 1.0 } else { r };
    r as u32
}

fn normalise(view: &RgbaImage, spec: &PreprocessSpec) -> Vec<f32> {
    let (w, h) = view.dimensions();
    let plane = (w * h) as usize;
    let c = spec.channel_order.channels();
    let mut out = vec![0f32; plane * c];
    // per output channel: which RGB source channel, and its mean/std
    let src_channel: &[usize] = match spec.channel_order {
        ChannelOrder::Rgb => &[0, 1, 2],
        ChannelOrder::Bgr => &[2, 1, 0],
        ChannelOrder::Gray => &[0],
    };
    for (i, px) in view.pixels().enumerate() {
        let [r, g, b, _] = px.0;
        for (oc, &sc) in src_channel.iter().enumerate() {
            let v = match spec.channel_order {
                // BT.601 luma with PIL's integer weights and rounding
                ChannelOrder::Gray => ((r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 0x8000) >> 16) as f32,
                _ => [r, g, b][sc] as f32,
            };
            let v = (v * spec.scale - spec.mean[sc]) / spec.std[sc];
            let idx = match spec.layout {
                Layout::Nchw => oc * plane + i,
                Layout::Nhwc => i * c + oc,
            };
            out[idx] = v;
        }
    }
    out
}

/// Resizes an image tensor ([1, C, H, W], or [1, H, W, C] for `Layout::Nhwc`) to `out_hw`
/// bilinearly, exactly as ONNX `Resize` does with mode "linear", coordinate transformation
/// "half_pixel" and no antialiasing: source x = (x + 0.5) * in / out - 0.5, its two
/// neighbours clamped to the edge. The multi-scale descriptors of `teach` are computed this
/// way so that their exported graph (which resizes with that op) gives the same numbers.
pub fn resize_tensor(
    data: &[f32],
    shape: &[usize],
    layout: Layout,
    out_hw: [usize; 2],
) -> Result<(Vec<f32>, Vec<usize>)> {
    let (c, [h, w]) = match layout.chw(shape) {
        Some(chw) if shape[0] == 1 => chw,
        _ => bail!("resize_tensor: shape {shape:?} is not one {layout:?} image"),
    };
    ensure!(
        data.len() == c * h * w && out_hw[0] > 0 && out_hw[1] > 0,
        "resize_tensor: {} values for shape {shape:?}",
        data.len()
    );
    // per output index along an axis: the two source indices and the second one's weight
    let taps = |len_in: usize, len_out: usize| -> Vec<(usize, usize, f32)> {
        let scale = len_out as f32 / len_in as f32;
        (0..len_out)
            .map(|x| {
                let src = (x as f32 + 0.5) / scale - 0.5;
                let lo = src.floor();
                let clamp = |i: f32| (i.max(0.0) as usize).min(len_in - 1);
                (clamp(lo), clamp(lo + 1.0), src - lo)
            })
            .collect()
    };
    let (ty, tx) = (taps(h, out_hw[0]), taps(w, out_hw[1]));
    let at = |ch: usize, y: usize, x: usize| match layout {
        Layout::Nchw => data[(ch * h + y) * w + x],
        Layout::Nhwc => data[(y * w + x) * c + ch],
    };
    let [oh, ow] = out_hw;
    let mut out = vec![0f32; c * oh * ow];
    for ch in 0..c {
        for (oy, &(y0, y1, fy)) in ty.iter().enumerate() {
            for (ox, &(x0, x1, fx)) in tx.iter().enumerate() {
                let top = at(ch, y0, x0) * (1.0 - fx) + at(ch, y0, x1) * fx;
                let bottom = at(ch, y1, x0) * (1.0 - fx) + at(ch, y1, x1) * fx;
                let i = match layout {
                    Layout::Nchw => (ch * oh + oy) * ow + ox,
                    Layout::Nhwc => (oy * ow + ox) * c + ch,
                };
                out[i] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
    let shape = match layout {
        Layout::Nchw => vec![1, c, oh, ow],
        Layout::Nhwc => vec![1, oh, ow, c],
    };
    Ok((out, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, px: [u8; 4]) -> RgbaImage {
        RgbaImage::from_pixel(w, h, image::Rgba(px))
    }

    #[test]
    fn imagenet_normalisation_hand_computed() {
        // 2x1 image: pixel (255, 0, 128) then (0, 255, 64)
        let img = RgbaImage::from_raw(2, 1, vec![255, 0, 128, 255, 0, 255, 64, 7]).unwrap();
        let spec = PreprocessSpec::preset(Preset::Imagenet);
        let p = prepare(&img, &spec).unwrap();
        assert_eq!(p.shape, [1, 3, 1, 2]);
        let expect = [
            (1.0 - 0.485) / 0.229,
            (0.0 - 0.485) / 0.229,
            (0.0 - 0.456) / 0.224,
            (1.0 - 0.456) / 0.224,
            (128.0 / 255.0 - 0.406) / 0.225,
            (64.0 / 255.0 - 0.406) / 0.225,
        ];
        for (a, e) in p.tensor.iter().zip(expect) {
            assert!((a - e).abs() < 1e-6, "{a} vs {e}");
        }
    }

    #[test]
    fn caffe_is_bgr_minus_mean_0_255() {
        let img = RgbaImage::from_raw(1, 1, vec![200, 100, 50, 255]).unwrap();
        let p = prepare(&img, &PreprocessSpec::preset(Preset::Caffe)).unwrap();
        assert_eq!(p.tensor, vec![50.0 - 103.939, 100.0 - 116.779, 200.0 - 123.68]);
    }

    #[test]
    fn nhwc_interleaves_channels() {
        let img = RgbaImage::from_raw(2, 1, vec![10, 20, 30, 0, 40, 50, 60, 0]).unwrap();
        let spec = PreprocessSpec {
            layout: Layout::Nhwc,
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            ..PreprocessSpec::preset(Preset::Imagenet)
        };
        let p = prepare(&img, &spec).unwrap();
        assert_eq!(p.shape, [1, 1, 2, 3]);
        assert_eq!(p.tensor, vec![10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
    }

    #[test]
    fn gray_uses_bt601_luma() {
        let img = RgbaImage::from_raw(1, 1, vec![255, 0, 0, 255]).unwrap();
        let spec = PreprocessSpec {
            channel_order: ChannelOrder::Gray,
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            ..PreprocessSpec::preset(Preset::Imagenet)
        };
        // PIL: L = R * 299/1000 + ... = 76.245 -> 76
        assert_eq!(prepare(&img, &spec).unwrap().tensor, vec![76.0]);
    }

    #[test]
    fn resize_sizes_follow_torchvision() {
        let spec = PreprocessSpec::imagenet_224();
        assert_eq!(spec.resized_wh(500, 375), [341, 256]); // int(256 * 500 / 375) = 341
        assert_eq!(spec.resized_wh(375, 500), [256, 341]);
        assert_eq!(spec.resized_wh(100, 100), [256, 256]);
        assert_eq!(spec.output_hw(500, 375).unwrap(), [224, 224]);
    }

    #[test]
    fn centre_crop_offsets_round_half_to_even() {
        assert_eq!(round_half_even(58.5), 58);
        assert_eq!(round_half_even(59.5), 60);
        assert_eq!(round_half_even(16.0), 16);
        assert_eq!(round_half_even(16.4), 16);
        // a 5x1 image cropped to 2 wide: torchvision left = round(1.5) = 2
        let mut img = solid(5, 1, [0, 0, 0, 255]);
        for x in 0..5 {
            img.put_pixel(x, 0, image::Rgba([x as u8 * 10, 0, 0, 255]));
        }
        let spec = PreprocessSpec {
            crop: Some([1, 2]),
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            ..PreprocessSpec::preset(Preset::Imagenet)
        };
        let p = prepare(&img, &spec).unwrap();
        assert_eq!(&p.tensor[..2], &[20.0, 30.0]);
    }

    #[test]
    fn pad_adds_a_black_border_after_the_crop() {
        let img = solid(3, 2, [255, 255, 255, 255]);
        let spec = PreprocessSpec {
            channel_order: ChannelOrder::Gray,
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            pad: 1,
            ..PreprocessSpec::preset(Preset::Imagenet)
        };
        let p = prepare(&img, &spec).unwrap();
        assert_eq!(p.shape, [1, 1, 4, 5]);
        let row = |r: usize| p.tensor[r * 5..(r + 1) * 5].to_vec();
        assert_eq!(row(0), vec![0.0; 5]);
        assert_eq!(row(1), vec![0.0, 255.0, 255.0, 255.0, 0.0]);
        // a 32x32 model with pad 2 crops to 28x28 and resizes its shorter side to 32
        let opts = SpecOptions { pad: Some(2), ..Default::default() };
        let s = PreprocessSpec::resolve(&opts, Some([32, 32])).unwrap();
        assert_eq!((s.resize, s.crop, s.pad), (Some(32), Some([28, 28]), 2));
    }

    #[test]
    fn geometry_maps_tensor_pixels_back_to_the_image() {
        let g = PreprocessSpec::imagenet_224().geometry(500, 375).unwrap();
        // 500x375 -> 341x256, crop 224 at left round(58.5) = 58, top 16
        assert_eq!((g.left, g.top, g.width, g.height), (58, 16, 224, 224));
        assert!((g.scale_x - 341.0 / 500.0).abs() < 1e-12 && (g.scale_y - 256.0 / 375.0).abs() < 1e-12);
    }

    #[test]
    fn resolve_takes_geometry_from_the_graph() {
        let s = PreprocessSpec::resolve(&SpecOptions::default(), Some([224, 224])).unwrap();
        assert_eq!(s, PreprocessSpec::imagenet_224());
        let s = PreprocessSpec::resolve(&SpecOptions::default(), Some([32, 32])).unwrap();
        assert_eq!((s.resize, s.crop), (Some(37), Some([32, 32])));
        let s = PreprocessSpec::resolve(&SpecOptions::default(), None).unwrap();
        assert_eq!((s.resize, s.crop), (None, None));
        let opts = SpecOptions { preset: Some(Preset::Caffe), resize: Some(0), ..Default::default() };
        let s = PreprocessSpec::resolve(&opts, Some([224, 224])).unwrap();
        assert_eq!((s.channel_order, s.resize, s.crop), (ChannelOrder::Bgr, None, Some([224, 224])));
    }

    #[test]
    fn bad_specs_and_buffers_name_the_value() {
        let opts = SpecOptions { std: Some([1.0, 0.0, 1.0]), ..Default::default() };
        let e = PreprocessSpec::resolve(&opts, None).unwrap_err().to_string();
        assert!(e.contains("std") && e.contains("0.0"), "{e}");
        let e = rgba_image(&[0; 10], 2, 2).unwrap_err().to_string();
        assert!(e.contains("10 bytes") && e.contains("16"), "{e}");
        let e = rgba_image(&[], 0, 3).unwrap_err().to_string();
        assert!(e.contains("0x3"), "{e}");
        let e = PreprocessSpec::imagenet_224().output_hw(10, 10).err();
        assert!(e.is_none(), "resize makes 10x10 large enough");
        let spec = PreprocessSpec { resize: None, ..PreprocessSpec::imagenet_224() };
        let e = spec.output_hw(100, 300).unwrap_err().to_string();
        assert!(e.contains("[224, 224]") && e.contains("100x300"), "{e}");
        assert!(decode_image(b"not an image").is_err());
        assert!(decode_image(&[]).unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn resize_tensor_is_onnx_half_pixel_linear() {
        // 1x2 -> 1x4 along W: sources -0.25, 0.25, 0.75, 1.25 -> clamped lerps of [0, 8]
        let (out, shape) = resize_tensor(&[0.0, 8.0], &[1, 1, 1, 2], Layout::Nchw, [1, 4]).unwrap();
        assert_eq!(shape, vec![1, 1, 1, 4]);
        assert_eq!(out, vec![0.0, 2.0, 6.0, 8.0]);
        // channels last: the same numbers per channel
        let (out, _) = resize_tensor(&[0.0, 1.0, 8.0, 2.0], &[1, 1, 2, 2], Layout::Nhwc, [1, 4]).unwrap();
        assert_eq!(out, vec![0.0, 1.0, 2.0, 1.25, 6.0, 1.75, 8.0, 2.0]);
        // downscaling 4 -> 2 reads between pixels 0-1 and 2-3
        let (out, _) = resize_tensor(&[0.0, 2.0, 4.0, 6.0], &[1, 1, 1, 4], Layout::Nchw, [1, 2]).unwrap();
        assert_eq!(out, vec![1.0, 5.0]);
        assert!(resize_tensor(&[0.0; 3], &[1, 1, 1, 2], Layout::Nchw, [1, 4]).is_err());
    }
}
