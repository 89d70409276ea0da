//! WebGPU inference (feature `webgpu`): the only module that touches wgpu. A [`Gpu`] is an
//! adapter's device; an [`Engine`] is a lowered model ([`plan::Plan`]) uploaded to it, with
//! one compute pipeline per kernel kind (WGSL beside this file). Weights are uploaded once;
//! activations stay on the GPU from layer to layer, in buffers kept for the last input size;
//! only the output is read back. In the browser this is WebGPU; natively it is Vulkan, for the
//! tests on Mesa's software rasteriser (lavapipe).

pub mod plan;

use anyhow::{bail, ensure, Context, Result};
use plan::{Kernel, Plan};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

/// What the kernels need of an adapter beyond WebGPU's defaults: nothing. These are the
/// defaults the kernels are written for (a 16 x 16 workgroup, two 4 KiB tiles, five
/// bindings), checked so that an adapter below them is refused with numbers, not a crash.
const NEEDED: [(&str, u32); 3] = [
    ("maxComputeInvocationsPerWorkgroup", 256),
    ("maxComputeWorkgroupStorageSize", 8192),
    ("maxStorageBuffersPerShaderStage", 4),
];

/// An adapter's device and queue.
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    /// The adapter's name and backend, e.g. "llvmpipe (LLVM 15.0.6, 256 bits) (vulkan)".
    pub adapter: String,
    /// Why the device cannot be used any more (lost, or an error outside an error scope).
    broken: Arc<Mutex<Option<String>>>,
}

impl Gpu {
    /// Asks for an adapter and a device with the adapter's own limits. The error says why
    /// in words (no `navigator.gpu`, no adapter, limits too low). Natively the
    /// software (CPU) adapter is preferred: native use is for tests on lavapipe.
    pub async fn acquire() -> std::result::Result<Gpu, String> {
        #[cfg(target_arch = "wasm32")]
        if !navigator_has_gpu() {
            return Err("WebGPU is not available here (navigator.gpu is missing)".into());
        }
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::BROWSER_WEBGPU | wgpu::Backends::VULKAN,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        #[cfg(not(target_arch = "wasm32"))]
        let adapter = {
            let mut all = instance.enumerate_adapters(wgpu::Backends::VULKAN).await;
            all.sort_by_key(|a| a.get_info().device_type != wgpu::DeviceType::Cpu);
            all.into_iter().next().ok_or_else(|| "no Vulkan adapter (is mesa-vulkan-drivers installed?)".to_string())?
        };
        #[cfg(target_arch = "wasm32")]
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions::default())
            .await
            .map_err(|e| format!("no WebGPU adapter: {e}"))?;
        let info = adapter.get_info();
        #[cfg(target_arch = "wasm32")]
        let name = if info.name.is_empty() { browser_adapter_name().await } else { Some(info.name.clone()) };
        #[cfg(not(target_arch = "wasm32"))]
        let name = (!info.name.is_empty()).then(|| info.name.clone());
        let software = if info.device_type == wgpu::DeviceType::Cpu { ", software" } else { "" };
        let adapter_name =
            format!("{} ({}{software})", name.unwrap_or_else(|| "an unnamed adapter".into()), info.backend);
        let limits = adapter.limits();
        let have = [
            limits.max_compute_invocations_per_workgroup,
            limits.max_compute_workgroup_storage_size,
            limits.max_storage_buffers_per_shader_stage,
        ];
        for ((what, need), have) in NEEDED.iter().zip(have) {
            if have < *need {
                return Err(format!(
                    "the adapter's limits are too low: {what} needs {need}, {adapter_name} has {have}"
                ));
            }
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("vgg-wasm"),
                required_limits: limits,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("{adapter_name} gave no device: {e}"))?;
        let broken = Arc::new(Mutex::new(None));
        let lost = broken.clone();
        device.set_device_lost_callback(move |reason, message| {
            let why = format!("the GPU device was lost ({reason:?}): {message}");
            *lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
        });
        let failed = broken.clone();
        device.on_uncaptured_error(Arc::new(move |e| {
            let why = format!("GPU error: {e}");
            failed.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(why);
        }));
        Ok(Gpu { device, queue, adapter: adapter_name, broken })
    }

    /// Why the device cannot be used any more, once that is so.
    pub fn broken(&self) -> Option<String> {
        self.broken.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The largest buffer one binding may see.
    fn max_binding(&self) -> u64 {
        let l = self.device.limits();
        l.max_storage_buffer_binding_size.min(l.max_buffer_size)
    }

    /// A storage buffer holding `data`. Written through the queue rather than mapped at
    /// creation: in the browser a mapped range is a copy in wasm memory (411 MB more for
    /// fc6), while `writeBuffer` reads the wasm memory in place.
    fn storage(&self, label: &str, data: &[f32]) -> wgpu::Buffer {
        self.storage_bytes(label, f32_bytes(data))
    }

    /// A storage buffer holding little-endian f32 `bytes`.
    fn storage_bytes(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (bytes.len() as u64).max(4),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&buffer, 0, bytes);
        buffer
    }

    fn uniform(&self, words: &[u32]) -> wgpu::Buffer {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: &bytes,
            usage: wgpu::BufferUsages::UNIFORM,
        })
    }

    /// Opens out-of-memory and validation error scopes: the errors of what the device is
    /// asked until [`Scope::close`] are reported there, not left uncaptured.
    pub fn scope(&self) -> Scope {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let invalid = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        Scope { oom, invalid }
    }

    /// Runs `work` inside a [`Scope`]; its errors become this call's error.
    async fn scoped<T>(&self, what: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
        let scope = self.scope();
        let out = work();
        scope.close(what).await?;
        out
    }
}

/// Error scopes open on a device (see [`Gpu::scope`]).
pub struct Scope {
    oom: wgpu::ErrorScopeGuard,
    invalid: wgpu::ErrorScopeGuard,
}

impl Scope {
    /// Closes the scopes; the first error they caught, as the error of `what`.
    pub async fn close(self, what: &str) -> Result<()> {
        let invalid = self.invalid.pop().await;
        let oom = self.oom.pop().await;
        if let Some(e) = oom.or(invalid) {
            bail!("{what}: {e}");
        }
        Ok(())
    }
}

/// The adapter's vendor and architecture as the browser reports them (e.g. "google
/// swiftshader"): wgpu names a browser adapter by its `description`, which browsers
/// usually leave empty.
#[cfg(target_arch = "wasm32")]
async fn browser_adapter_name() -> Option<String> {
    use wasm_bindgen::JsCast;
    let get = |v: &wasm_bindgen::JsValue, k: &str| js_sys::Reflect::get(v, &k.into()).ok();
    let gpu = get(&get(&js_sys::global(), "navigator")?, "gpu")?;
    let request = get(&gpu, "requestAdapter")?.dyn_into::<js_sys::Function>().ok()?;
    let promise = request.call0(&gpu).ok()?.dyn_into::<js_sys::Promise>().ok()?;
    let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    let info = get(&adapter, "info")?;
    let parts: Vec<String> = ["vendor", "architecture", "description"]
        .iter()
        .filter_map(|k| get(&info, k)?.as_string())
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

#[cfg(target_arch = "wasm32")]
fn navigator_has_gpu() -> bool {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or_default();
    let gpu = js_sys::Reflect::get(&navigator, &"gpu".into()).unwrap_or_default();
    !gpu.is_undefined() && !gpu.is_null()
}

/// f32s as the little-endian bytes the GPU reads (wasm32 and every target wgpu supports
/// are little-endian).
fn f32_bytes(data: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and any byte is a valid u8; the length is in bytes.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) }
}

fn ceil4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// Workgroups for `n` invocations of 256 on a 2-D grid (at most 65535 a side).
fn grid(groups: usize) -> (u32, u32) {
    let x = groups.clamp(1, 65535);
    (x as u32, groups.div_ceil(x) as u32)
}

struct Pipelines {
    conv: wgpu::ComputePipeline,
    pool: wgpu::ComputePipeline,
    dense: wgpu::ComputePipeline,
    pointwise: wgpu::ComputePipeline,
}

/// One dispatch of a kernel for one input size.
struct Dispatch {
    pipeline: usize,
    bind_group: wgpu::BindGroup,
    groups: (u32, u32),
}

/// The activation buffers, bindings and dispatches for one input size.
struct Buffers {
    chw: [usize; 3],
    input: wgpu::Buffer,
    dispatches: Vec<Dispatch>,
    last: wgpu::Buffer,
    readback: wgpu::Buffer,
    out_shape: Vec<usize>,
    out_len: usize,
}

/// A lowered model uploaded to a [`Gpu`], ready to run.
pub struct Engine {
    gpu: Gpu,
    /// The plan without its weights, which are on the GPU.
    plan: Plan<'static>,
    /// Per kernel: conv [weights [K, out], bias]; dense [bias, row chunks...]; affine and
    /// relu [scale, shift]; pool none.
    weights: Vec<Vec<wgpu::Buffer>>,
    /// Rows of each dense weight chunk, per kernel.
    chunk_rows: Vec<Vec<usize>>,
    pipelines: Pipelines,
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

    /// Activation buffers, parameters, bindings and grid sizes for an input of `chw`.
    fn buffers_for(&self, chw: [usize; 3]) -> Result<Buffers> {
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
                    let p = self.gpu.uniform(&[
                        u(*inputs),
                        u(*outputs),
                        u(h),
                        u(wi),
                        u(oh),
                        u(ow),
                        u(wd.kernel[0]),
                        u(wd.kernel[1]),
                        u(wd.stride[0]),
                        u(wd.stride[1]),
                        u(wd.pad_begin[0]),
                        u(wd.pad_begin[1]),
                        u(wd.dilation[0]),
                        u(wd.dilation[1]),
                        u(*relu as usize),
                        u(inputs * wd.kernel[0] * wd.kernel[1]),
                    ]);
                    let groups = ((oh * ow).div_ceil(64) as u32, outputs.div_ceil(64) as u32);
                    ensure!(
                        groups.0 <= 65535 && groups.1 <= 65535,
                        "a convolution output of {shape:?} is too large for one dispatch"
                    );
                    let bind_group = bind(&self.pipelines.conv, &[&prev, &w[0], &w[1], &out, &p]);
                    dispatches.push(Dispatch { pipeline: 0, bind_group, groups });
                }
                Kernel::Pool { max, window: wd, count_pad } => {
                    let p = self.gpu.uniform(&[
                        u(shape[0]),
                        u(prev_shape[1]),
                        u(prev_shape[2]),
                        u(shape[1]),
                        u(shape[2]),
                        u(wd.kernel[0]),
                        u(wd.kernel[1]),
                        u(wd.stride[0]),
                        u(wd.stride[1]),
                        u(wd.pad_begin[0]),
                        u(wd.pad_begin[1]),
                        u(wd.dilation[0]),
                        u(wd.dilation[1]),
                        u(*max as usize),
                        u(*count_pad as usize),
                        0,
                    ]);
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
