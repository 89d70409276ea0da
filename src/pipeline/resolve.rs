//! Preprocessing resolved against the graph: what the options leave open is read from the
//! model file's metadata and from its graph (layout, grey input, its own scaling, fixed
//! size), and the head (class scores or feature maps) from its output.

use super::Head;
use crate::inspect::Analysis;
use crate::model::{fmt_shape, GraphInfo};
use crate::preprocess::{ChannelOrder, Layout, PreprocessSpec, SpecOptions};
use anyhow::{bail, ensure, Context, Result};

/// Spatial size a dynamic-size model is first planned for, before any image arrives.
const DEFAULT_PLAN_HW: [usize; 2] = [224, 224];

/// A preprocessing spec resolved against a graph, with what was read from it and the layer
/// analysis at the input size it gives.
pub(super) struct Resolved {
    pub(super) spec: PreprocessSpec,
    pub(super) detected: Vec<String>,
    pub(super) planned: Analysis,
}

/// The input height and width a graph with dynamic spatial dims is planned for: the crop
/// the options give, else [`DEFAULT_PLAN_HW`].
pub(super) fn plan_hw(opts: &SpecOptions) -> [usize; 2] {
    opts.crop.filter(|c| !c.contains(&0)).map_or(DEFAULT_PLAN_HW, |[h, w]| [h as usize, w as usize])
}

/// The preprocessing a model file carries in its metadata (`preprocess`, as a taught
/// model's export writes it), with the sentence `detected` gives; the defaults where it
/// carries none. A value that is not a preprocessing spec is passed over, and said so:
/// another tool's key of the same name must not make a good model fail to load.
pub(super) fn file_preprocess(bytes: &[u8]) -> (SpecOptions, Option<String>) {
    use crate::model::PREPROCESS_KEY;
    let Some(json) = crate::model::metadata_value(bytes, PREPROCESS_KEY) else {
        return (SpecOptions::default(), None);
    };
    let mut de = serde_json::Deserializer::from_str(&json);
    match serde_path_to_error::deserialize::<_, SpecOptions>(&mut de) {
        Ok(p) => (p, Some(format!("preprocess {json}: the model's metadata ({PREPROCESS_KEY:?})"))),
        Err(e) => (
            SpecOptions::default(),
            Some(format!("the model's metadata {PREPROCESS_KEY:?} is not a preprocessing spec ({e}): passed over")),
        ),
    }
}

/// Fills in what `spec_opts` leaves open from what the graph says about its input (layout,
/// one grey channel, its own scaling, its fixed size), and checks the result fits it.
pub(super) fn resolve_preprocess(mut spec_opts: SpecOptions, info: &GraphInfo) -> Result<Resolved> {
    let plan_hw = plan_hw(&spec_opts);
    let mut detected = Vec::new();
    if spec_opts.layout.is_none() {
        if let Some(why) = &info.channels_last {
            spec_opts.layout = Some(Layout::Nhwc);
            detected.push(format!("layout nhwc: {why}"));
        }
    }
    let nhwc = spec_opts.layout == Some(Layout::Nhwc);
    let (c_axis, h_axis, w_axis) = if nhwc { (3, 1, 2) } else { (1, 2, 3) };
    // a one-channel model wants grey pixels unless told otherwise
    if spec_opts.channel_order.is_none() && info.input_shape[c_axis] == Some(1) {
        spec_opts.channel_order = Some(ChannelOrder::Gray);
        detected.push(format!("channelOrder gray: the input has 1 channel on axis {c_axis}"));
    }
    // a graph that scales or normalises its own input gets pixels as they are (0-255):
    // normalising here as well would do it twice
    let untouched =
        spec_opts.preset.is_none() && spec_opts.scale.is_none() && spec_opts.mean.is_none() && spec_opts.std.is_none();
    if let (Some(ops), true) = (&info.input_arithmetic, untouched) {
        (spec_opts.scale, spec_opts.mean, spec_opts.std) = (Some(1.0), Some([0.0; 3]), Some([1.0; 3]));
        detected.push(format!("scale 1, mean 0, std 1 (pixels 0-255): the graph applies {ops} to its input itself"));
    }
    let fixed_hw = match (info.input_shape[h_axis], info.input_shape[w_axis]) {
        (Some(h), Some(w)) => Some([h as u32, w as u32]),
        _ => None,
    };
    if let (Some([h, w]), None) = (fixed_hw, spec_opts.crop) {
        detected.push(format!("crop [{h}, {w}] less padding: the graph's fixed input size"));
    }
    let spec = PreprocessSpec::resolve(&spec_opts, fixed_hw).context("options.preprocess")?;
    if let Some(c) = info.input_shape[c_axis] {
        ensure!(
            c == spec.channel_order.channels(),
            "the model's input '{}' {} has {c} channels on axis {c_axis}, but preprocess gives {} \
             ({:?} order, {:?} layout)",
            info.input_name,
            fmt_shape(&info.input_shape),
            spec.channel_order.channels(),
            spec.channel_order,
            spec.layout
        );
    }
    if let (Some([h, w]), Some([ch, cw])) = (fixed_hw, spec.crop) {
        let (ph, pw) = (ch as u64 + 2 * spec.pad as u64, cw as u64 + 2 * spec.pad as u64);
        ensure!(
            [ph, pw] == [h as u64, w as u64],
            "preprocess.crop [{ch}, {cw}] with pad {} gives {ph}x{pw} pixels, but the model's input '{}' {} is {h}x{w}",
            spec.pad,
            info.input_name,
            fmt_shape(&info.input_shape)
        );
    }
    let input_hw = fixed_hw.map_or(plan_hw, |[h, w]| [h as usize, w as usize]);
    let planned = Analysis::new(&info.layers, spec.channel_order.channels(), input_hw);
    Ok(Resolved { spec, detected, planned })
}

/// A [1, K] or [1, K, 1, 1] output is a classifier over K classes; anything else is
/// feature maps.
/// Class scores ([1, k] or [1, k, 1, 1], k > 1) or feature maps ([1, C, H, W]); any other
/// output is not something this library can present.
pub(super) fn head_of(out_shape: &[usize], info: &GraphInfo) -> Result<Head> {
    match out_shape {
        [1, k] | [1, k, 1, 1] if *k > 1 => Ok(Head::Classifier { classes: *k, softmax_in_graph: info.ends_in_softmax }),
        [1, _, _, _] => Ok(Head::Features),
        other => bail!(
            "the model's output '{}' has shape {other:?}: neither class scores [1, classes] nor feature maps [1, C, H, W]",
            info.output_name
        ),
    }
}
