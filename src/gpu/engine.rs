//! A lowered model on the GPU: [`Engine::upload`] uploads a plan's weights (splitting dense
//! layers larger than one binding into chunks of rows) and builds one compute pipeline per
//! kernel kind; [`Engine::run`] writes the input, dispatches the kernels and reads the output
//! back.

use super::buffers::{ceil4, Buffers};
use super::device::{f32_bytes, Gpu};
use super::plan::{self, Kernel, Plan};
use anyhow::{bail, ensure, Context, Result};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// One compute pipeline per kernel kind, built from the WGSL beside this file.
pub(super) struct Pipelines {
    pub(super) conv: wgpu::ComputePipeline,
    pub(super) pool: wgpu::ComputePipeline,
    pub(super) dense: wgpu::ComputePipeline,
    pub(super) pointwise: wgpu::ComputePipeline,
}

/// A lowered model uploaded to a [`Gpu`], ready to run.
pub struct Engine {
    pub(super) gpu: Gpu,
    /// The plan without its weights, which are on the GPU.
    pub(super) plan: Plan<'static>,
    /// Per kernel: conv [weights [K, out], bias]; dense [bias, row chunks...]; affine and
    /// relu [scale, shift]; pool none.
    pub(super) weights: Vec<Vec<wgpu::Buffer>>,
    /// Rows of each dense weight chunk, per kernel.
    pub(super) chunk_rows: Vec<Vec<usize>>,
    pub(super) pipelines: Pipelines,
    buffers: RefCell<Option<Rc<Buffers>>>,
    busy: Cell<bool>,
}

impl Engine {
    /// Uploads `plan`'s weights to `gpu` and builds the kernels. A dense layer's weights
    /// larger than one binding may be (fc6: 411 MB; WebGPU's default is 128 MiB) are split
    /// into chunks of whole rows.
    pub async fn new(gpu: Gpu, plan: Plan<'_>) -> Result<Engine> {
        Engine::scoped_upload(gpu, plan, None).await
    }

    /// [`Engine::new`], splitting dense weights as if one binding held at most `bytes`
    /// (how the tests exercise the split on small models).
    pub async fn with_max_binding(gpu: Gpu, plan: Plan<'_>, max_binding: u64) -> Result<Engine> {
        Engine::scoped_upload(gpu, plan, Some(max_binding)).await
    }

    async fn scoped_upload(gpu: Gpu, plan: Plan<'_>, max_binding: Option<u64>) -> Result<Engine> {
        let scope = gpu.scope();
        let engine = Engine::upload(gpu, plan, max_binding);
        scope.close("uploading the model to the GPU").await?;
        engine
    }

    /// Uploads `plan`'s weights (freeing each layer's as it goes) and builds the kernels,
    /// without waiting: call it inside a [`Gpu::scope`] and close the
    /// scope after, which reports what the device refused. `max_binding`: see
    /// [`Engine::with_max_binding`] (default: the adapter's limit).
    pub fn upload(gpu: Gpu, mut plan: Plan<'_>, max_binding: Option<u64>) -> Result<Engine> {
        if let Some(why) = gpu.broken() {
            bail!("{why}");
        }
        let max_binding = max_binding.unwrap_or_else(|| gpu.max_binding());
        let (pipelines, weights, chunk_rows) = {
            let module = |label: &str, src: &str| {
                let m = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(label),
                    source: wgpu::ShaderSource::Wgsl(src.into()),
                });
                gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(label),
                    layout: None,
                    module: &m,
                    entry_point: Some("main"),
                    compilation_options: Default::default(),
                    cache: None,
                })
            };
            let pipelines = Pipelines {
                conv: module("conv", include_str!("conv.wgsl")),
                pool: module("pool", include_str!("pool.wgsl")),
                dense: module("dense", include_str!("dense.wgsl")),
                pointwise: module("pointwise", include_str!("pointwise.wgsl")),
            };
            let mut weights = Vec::new();
            let mut chunk_rows = Vec::new();
            for k in &mut plan.kernels {
                let mut rows = Vec::new();
                weights.push(match k {
                    Kernel::Conv { inputs, outputs, window, weights, bias, .. } => {
                        let kk = *inputs * window.kernel[0] * window.kernel[1];
                        ensure!(
                            weights.len() == kk * *outputs,
                            "convolution weights: {} values for {kk} x {outputs}",
                            weights.len()
                        );
                        let mut t = vec![0.0; weights.len()];
                        for m in 0..*outputs {
                            for k in 0..kk {
                                t[k * *outputs + m] = weights[m * kk + k];
                            }
                        }
                        ensure!(
                            (t.len() * 4) as u64 <= max_binding,
                            "convolution weights of {} bytes exceed the adapter's binding size {max_binding}",
                            t.len() * 4
                        );
                        let b = vec![gpu.storage("conv weights", &t), gpu.storage("conv bias", bias)];
                        *weights = Vec::new();
                        b
                    }
                    Kernel::Dense { inputs, outputs, weights, bias, .. } => {
                        let k4 = ceil4(*inputs);
                        ensure!(
                            weights.len() == *inputs * *outputs,
                            "dense weights: {} values for {inputs} x {outputs}",
                            weights.len()
                        );
                        let per_chunk = ((max_binding / (k4 as u64 * 4)) as usize).max(1);
                        let mut b = vec![gpu.storage("dense bias", bias)];
                        let mut row0 = 0;
                        while row0 < *outputs {
                            let n = per_chunk.min(*outputs - row0);
                            let (start, end) = (row0 * *inputs, (row0 + n) * *inputs);
                            let buf = match weights.file_bytes(start, end) {
                                Some(bytes) if k4 == *inputs => gpu.storage_bytes("dense weights", bytes),
                                _ if k4 == *inputs => gpu.storage("dense weights", &weights.values(start, end)),
                                _ => {
                                    let rows_data = weights.values(start, end);
                                    let mut padded = vec![0.0; n * k4];
                                    for r in 0..n {
                                        padded[r * k4..r * k4 + *inputs]
                                            .copy_from_slice(&rows_data[r * *inputs..(r + 1) * *inputs]);
                                    }
                                    gpu.storage("dense weights", &padded)
                                }
                            };
                            b.push(buf);
                            rows.push(n);
                            row0 += n;
                        }
                        *weights = plan::Weights::Values(Vec::new());
                        b
                    }
                    Kernel::Affine { scale, shift } => vec![gpu.storage("scale", scale), gpu.storage("shift", shift)],
                    Kernel::Relu => vec![gpu.storage("scale", &[1.0]), gpu.storage("shift", &[0.0])],
                    Kernel::Pool { .. } => Vec::new(),
                });
                chunk_rows.push(rows);
            }
            (pipelines, weights, chunk_rows)
        };
        let plan = Plan {
            kernels: plan.kernels.iter().map(Kernel::without_weights).collect(),
            input_nhwc: plan.input_nhwc,
            softmax: plan.softmax,
            output_rank: plan.output_rank,
        };
        Ok(Engine { gpu, plan, weights, chunk_rows, pipelines, buffers: RefCell::new(None), busy: Cell::new(false) })
    }

    /// The adapter the engine runs on.
    pub fn adapter(&self) -> &str {
        &self.gpu.adapter
    }

    /// Why the device cannot be used any more, once that is so.
    pub fn broken(&self) -> Option<String> {
        self.gpu.broken()
    }

    /// Destroys the device, as a lost GPU would be (for tests of the fallback).
    pub fn destroy_device(&self) {
        self.gpu.device.destroy();
    }

    /// Runs the model on one f32 input tensor of `shape` (the model's own layout, batch 1);
    /// returns the graph output's shape (batch first) and values, as the CPU path does.
    pub async fn run(&self, data: &[f32], shape: &[usize]) -> Result<(Vec<usize>, Vec<f32>)> {
        if let Some(why) = self.gpu.broken() {
            bail!("{why}");
        }
        ensure!(!self.busy.get(), "a GPU run is already in progress on this model");
        self.busy.set(true);
        let out = self.run_once(data, shape).await;
        self.busy.set(false);
        if let (Err(e), Some(why)) = (&out, self.gpu.broken()) {
            bail!("{e:#} ({why})");
        }
        out
    }

    async fn run_once(&self, data: &[f32], shape: &[usize]) -> Result<(Vec<usize>, Vec<f32>)> {
        let (chw, input) = match (shape, self.plan.input_nhwc) {
            ([1, c, h, w], false) => ([*c, *h, *w], None),
            ([1, h, w, c], true) => {
                let (c, h, w) = (*c, *h, *w);
                let mut t = vec![0.0; data.len()];
                for p in 0..h * w {
                    for ch in 0..c {
                        t[ch * h * w + p] = data[p * c + ch];
                    }
                }
                ([c, h, w], Some(t))
            }
            _ => bail!("the GPU path takes one [1, C, H, W] (or channels-last [1, H, W, C]) tensor, got {shape:?}"),
        };
        let input = input.as_deref().unwrap_or(data);
        ensure!(input.len() == chw.iter().product::<usize>(), "{} values for input shape {shape:?}", input.len());
        // the buffers of the last input size, or new ones (the old freed first)
        let cached = self.buffers.borrow().clone().filter(|b| b.chw == chw);
        let b = match cached {
            Some(b) => b,
            None => {
                *self.buffers.borrow_mut() = None;
                let made = Rc::new(self.gpu.scoped("allocating the GPU buffers", || self.buffers_for(chw)).await?);
                *self.buffers.borrow_mut() = Some(made.clone());
                made
            }
        };
        self.gpu.queue.write_buffer(&b.input, 0, f32_bytes(input));
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            let pipelines =
                [&self.pipelines.conv, &self.pipelines.pool, &self.pipelines.dense, &self.pipelines.pointwise];
            for d in &b.dispatches {
                pass.set_pipeline(pipelines[d.pipeline]);
                pass.set_bind_group(0, &d.bind_group, &[]);
                pass.dispatch_workgroups(d.groups.0, d.groups.1, 1);
            }
        }
        encoder.copy_buffer_to_buffer(&b.last, 0, &b.readback, 0, (b.out_len * 4) as u64);
        self.gpu.queue.submit([encoder.finish()]);
        let mut values = self.read(&b.readback, b.out_len).await?;
        if self.plan.softmax {
            values = crate::predictions::softmax(&values);
        }
        Ok((b.out_shape.clone(), values))
    }

    /// Waits for the queue and copies `len` f32s out of a mappable buffer.
    async fn read(&self, buffer: &wgpu::Buffer, len: usize) -> Result<Vec<f32>> {
        let slice = buffer.slice(..(len * 4) as u64);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.gpu.device.poll(wgpu::PollType::wait_indefinitely()).context("waiting for the GPU")?;
        rx.await.context("the GPU dropped the read-back")?.context("reading the output back from the GPU")?;
        let values = {
            let bytes = slice.get_mapped_range().map_err(|e| anyhow::anyhow!("mapping the read-back buffer: {e:?}"))?;
            bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        };
        buffer.unmap();
        Ok(values)
    }
}
