//! The activation buffers, parameter uniforms, bind groups and workgroup counts of one
//! input size: built on the first run at that size, kept until the size changes.

use super::engine::Engine;
use super::plan::{Kernel, Window};
use anyhow::{ensure, Result};

/// `n` rounded up to a multiple of four.
pub(super) fn ceil4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// Workgroups for `n` invocations of 256 on a 2-D grid (at most 65535 a side).
fn grid(groups: usize) -> (u32, u32) {
    let x = groups.clamp(1, 65535);
    (x as u32, groups.div_ceil(x) as u32)
}

/// One dispatch of a kernel for one input size.
pub(super) struct Dispatch {
    pub(super) pipeline: usize,
    pub(super) bind_group: wgpu::BindGroup,
    pub(super) groups: (u32, u32),
}

/// The activation buffers, bindings and dispatches for one input size.
pub(super) struct Buffers {
    pub(super) chw: [usize; 3],
    pub(super) input: wgpu::Buffer,
    pub(super) dispatches: Vec<Dispatch>,
    pub(super) last: wgpu::Buffer,
    pub(super) readback: wgpu::Buffer,
    pub(super) out_shape: Vec<usize>,
    pub(super) out_len: usize,
}

impl Engine {
    /// Activation buffers, parameters, bindings and grid sizes for an input of `chw`.
    pub(super) fn buffers_for(&self, chw: [usize; 3]) -> Result<Buffers> {
        let shapes = self.plan.shapes(chw)?;
        let max_binding = self.gpu.max_binding();
        let activation = |shape: &[usize], what: &str| -> Result<wgpu::Buffer> {
            let bytes = (ceil4(shape.iter().product()) * 4) as u64;
            ensure!(
                bytes <= max_binding,
                "the adapter's limits are too low: {what} of shape {shape:?} needs a {bytes}-byte buffer, the adapter binds at most {max_binding}"
            );
            Ok(self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(what),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }))
        };
        let input = activation(&chw, "the input")?;
        let mut prev = input.clone();
        let mut prev_shape = chw.to_vec();
        let mut dispatches = Vec::new();
        let u = |v: usize| v as u32;
        for (i, (k, shape)) in self.plan.kernels.iter().zip(&shapes).enumerate() {
            let out = activation(shape, &format!("the output of GPU kernel {i} ({})", k.name()))?;
            let w = &self.weights[i];
            let bind = |pipeline: &wgpu::ComputePipeline, buffers: &[&wgpu::Buffer]| {
                let entries: Vec<wgpu::BindGroupEntry> = buffers
                    .iter()
                    .enumerate()
                    .map(|(b, buf)| wgpu::BindGroupEntry { binding: b as u32, resource: buf.as_entire_binding() })
                    .collect();
                self.gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &pipeline.get_bind_group_layout(0),
                    entries: &entries,
                })
            };
            let n: usize = shape.iter().product();
            match k {
                Kernel::Conv { inputs, outputs, window: wd, relu, .. } => {
                    let (h, wi, oh, ow) = (prev_shape[1], prev_shape[2], shape[1], shape[2]);
                    let p = self.gpu.uniform(
                        &[
                            &[u(*inputs), u(*outputs), u(h), u(wi), u(oh), u(ow)][..],
                            &window_words(wd),
                            &[u(*relu as usize), u(inputs * wd.kernel[0] * wd.kernel[1])],
                        ]
                        .concat(),
                    );
                    let groups = ((oh * ow).div_ceil(64) as u32, outputs.div_ceil(64) as u32);
                    ensure!(
                        groups.0 <= 65535 && groups.1 <= 65535,
                        "a convolution output of {shape:?} is too large for one dispatch"
                    );
                    let bind_group = bind(&self.pipelines.conv, &[&prev, &w[0], &w[1], &out, &p]);
                    dispatches.push(Dispatch { pipeline: 0, bind_group, groups });
                }
                Kernel::Pool { max, window: wd, count_pad } => {
                    let p = self.gpu.uniform(
                        &[
                            &[u(shape[0]), u(prev_shape[1]), u(prev_shape[2]), u(shape[1]), u(shape[2])][..],
                            &window_words(wd),
                            &[u(*max as usize), u(*count_pad as usize), 0],
                        ]
                        .concat(),
                    );
                    let bind_group = bind(&self.pipelines.pool, &[&prev, &out, &p]);
                    dispatches.push(Dispatch { pipeline: 1, bind_group, groups: grid(n.div_ceil(256)) });
                }
                Kernel::Dense { inputs, relu, .. } => {
                    let mut row0 = 0;
                    for (c, rows) in self.chunk_rows[i].iter().enumerate() {
                        let p = self.gpu.uniform(&[u(ceil4(*inputs) / 4), u(*rows), u(row0), u(*relu as usize)]);
                        let bind_group = bind(&self.pipelines.dense, &[&prev, &w[1 + c], &w[0], &out, &p]);
                        dispatches.push(Dispatch { pipeline: 2, bind_group, groups: grid(*rows) });
                        row0 += rows;
                    }
                }
                Kernel::Affine { .. } | Kernel::Relu => {
                    let (per_channel, relu) = match k {
                        Kernel::Affine { scale, .. } => (scale.len() > 1, false),
                        _ => (false, true),
                    };
                    let plane = if shape.len() == 3 { shape[1] * shape[2] } else { 1 };
                    let p = self.gpu.uniform(&[u(n), u(plane), u(per_channel as usize), u(relu as usize)]);
                    let bind_group = bind(&self.pipelines.pointwise, &[&prev, &w[0], &w[1], &out, &p]);
                    dispatches.push(Dispatch { pipeline: 3, bind_group, groups: grid(n.div_ceil(256)) });
                }
            }
            prev = out;
            prev_shape = shape.clone();
        }
        let out_len: usize = prev_shape.iter().product();
        let readback = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read-back"),
            size: (ceil4(out_len) * 4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Buffers {
            chw,
            input,
            dispatches,
            last: prev,
            readback,
            out_shape: self.plan.output_shape(&prev_shape),
            out_len,
        })
    }
}

/// A window's fields as the conv and pool kernels' uniforms lay them out: kernel, stride,
/// padding before, dilation, each [height, width].
fn window_words(wd: &Window) -> [u32; 8] {
    let [k, s, p, d] = [wd.kernel, wd.stride, wd.pad_begin, wd.dilation];
    [k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1]].map(|v| v as u32)
}
