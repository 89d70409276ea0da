//! The pipeline on WebGPU: loading onto the GPU, runs there, and the CPU taking over when it
//! fails. Compiled only with the `webgpu` feature; `no_gpu.rs` stands in without it, with the
//! same `Slot`, `attach`, `working_adapter` and `run_unkept`.

use super::Input;
use super::{Backend, BackendChoice, BackendKind, Classification, Options, Output, Pipeline, Tensor, Timings, View};
use crate::clock::now_ms;
use crate::inspect::{Analysis, LastRun};
use crate::model::Model;
use crate::preprocess;
use anyhow::{bail, Context, Result};

/// The model on the GPU, where it was loaded there.
pub(super) type Slot = Option<GpuEngine>;

/// Loads `bytes` for the GPU as well as the CPU: the pipeline with its GPU backend, or the
/// pipeline on the CPU with the reason the GPU was not taken.
pub(super) async fn attach(
    bytes: Vec<u8>,
    options: Options,
    choice: BackendChoice,
) -> Result<std::result::Result<(Pipeline, Backend), (Pipeline, String)>> {
    // "auto" leaves a software adapter for the CPU path (unless told otherwise); "webgpu"
    // takes whatever is there
    let gpu = match crate::gpu::Gpu::acquire(choice == BackendChoice::Webgpu || options.software_gpu).await {
        Ok(gpu) => gpu,
        // fail before the (long) load where the answer is already known
        Err(e) if choice == BackendChoice::Webgpu => bail!("options.backend \"webgpu\": {e}"),
        Err(e) => return Ok(Err((Pipeline::build(bytes.into(), options, &mut Model::load)?, e))),
    };
    let adapter = gpu.adapter.clone();
    // the weights go to the GPU while the model loads, before tract copies them (see
    // Model::load_lowered); what the GPU refused is known when the scope closes
    let scope = gpu.scope();
    let mut gpu = Some(gpu);
    let mut engine: std::result::Result<crate::gpu::Engine, String> = Err("the model was not lowered".into());
    let mut sink = |plan: std::result::Result<crate::gpu::plan::Plan, String>| {
        engine = match (plan, gpu.take()) {
            (Ok(plan), Some(gpu)) => crate::gpu::Engine::upload(gpu, plan, None).map_err(|e| format!("{e:#}")),
            (Err(e), _) => Err(format!("the GPU cannot run this model: {e}")),
            (Ok(_), None) => Err("the model was lowered twice".into()),
        };
    };
    let mut load = |b: std::borrow::Cow<'_, [u8]>, planning| Model::load_lowered(b, planning, &mut sink);
    let built = Pipeline::build(bytes.into(), options, &mut load);
    let closed = scope.close("uploading the model to the GPU").await.map_err(|e| format!("{e:#}"));
    let p = built?;
    Ok(match closed.and(engine) {
        Ok(engine) => {
            let mut p = p;
            p.gpu = Some(GpuEngine(std::rc::Rc::new(engine)));
            Ok((p, Backend { name: BackendKind::Webgpu, adapter: Some(adapter), reason: None }))
        }
        Err(reason) => Err((p, reason)),
    })
}

/// The adapter of the model's GPU while it works.
pub(super) fn working_adapter(p: &Pipeline) -> Option<String> {
    p.gpu.as_ref().filter(|g| g.0.broken().is_none()).map(|g| g.0.adapter().to_string())
}

/// Runs an input tensor on the GPU where the model is there, not kept for inspection (a failed
/// run is answered by the CPU); `None` where the CPU is the backend.
pub(super) async fn run_unkept(
    base: &std::cell::RefCell<Pipeline>,
    data: &[f32],
    shape: &[usize],
) -> Result<Option<Output>> {
    let job = base.borrow_mut().gpu_tensor_job(data, shape)?;
    let Some(job) = job else { return Ok(None) };
    let done = job.run().await;
    Ok(Some(base.borrow_mut().finish_gpu(done)?))
}

/// The uploaded GPU model, shared with the runs in flight.
#[derive(Clone)]
pub(super) struct GpuEngine(std::rc::Rc<crate::gpu::Engine>);

impl std::fmt::Debug for GpuEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuEngine({})", self.0.adapter())
    }
}

/// An image prepared for the GPU: its tensor, and what the run is kept with.
pub struct GpuJob {
    engine: GpuEngine,
    tensor: Vec<f32>,
    shape: Vec<usize>,
    view: Option<View>,
    analysis: Analysis,
    preprocess_ms: f64,
}

/// A GPU run that finished, or failed: [`Pipeline::finish_gpu`] keeps it (and runs the
/// CPU instead where it failed).
pub struct GpuDone {
    job: GpuJob,
    result: Result<Tensor>,
    inference_ms: f64,
}

impl GpuJob {
    /// Runs the model on the GPU. Holds no borrow of the pipeline, so that JS may call
    /// other methods while it runs.
    pub async fn run(self) -> GpuDone {
        let t0 = now_ms();
        let result = self.engine.0.run(&self.tensor, &self.shape).await;
        GpuDone { inference_ms: now_ms() - t0, job: self, result }
    }
}

impl Pipeline {
    /// Prepares a straight RGBA image for a GPU run; `None` when the CPU is the backend
    /// (the caller then runs [`Pipeline::forward`]). A device lost since the last call
    /// makes the CPU the backend here, with the reason.
    pub fn gpu_job(&mut self, rgba: &[u8], width: u32, height: u32) -> Result<Option<GpuJob>> {
        let Some(engine) = self.usable_gpu() else { return Ok(None) };
        let input = self.prepare_image(&preprocess::rgba_image(rgba, width, height)?)?;
        let Input { tensor, shape, view, analysis, ms } = input;
        Ok(Some(GpuJob { engine, tensor, shape, view: Some(view), analysis, preprocess_ms: ms }))
    }

    /// A GPU run of an already prepared input tensor; `None` when the CPU is the backend.
    pub fn gpu_tensor_job(&mut self, data: &[f32], shape: &[usize]) -> Result<Option<GpuJob>> {
        let Some(engine) = self.usable_gpu() else { return Ok(None) };
        let analysis = self.check_tensor(data, shape)?.context("the input tensor must have rank 4")?;
        Ok(Some(GpuJob {
            engine,
            tensor: data.to_vec(),
            shape: shape.to_vec(),
            view: None,
            analysis,
            preprocess_ms: 0.0,
        }))
    }

    /// The top `k` classes of a finished GPU run (see [`Pipeline::finish_gpu`]).
    pub fn finish_gpu_classify(&mut self, done: GpuDone, k: usize) -> Result<Classification> {
        let out = self.finish_gpu(done)?;
        self.answer(out, k)
    }

    /// Keeps a finished GPU run for inspection. Where it failed, the same input runs on the
    /// CPU now; a lost device also makes the CPU the backend from now on, with the reason.
    pub fn finish_gpu(&mut self, done: GpuDone) -> Result<Output> {
        let GpuDone { job, result, inference_ms } = done;
        match result {
            Ok((shape, data)) => {
                let keeps = self.model.keeps_activations();
                self.last = Some(LastRun::new(job.analysis, job.view, Vec::new()));
                self.cpu_pending = keeps.then_some((job.tensor, job.shape));
                let timings = Timings { preprocess_ms: job.preprocess_ms, inference_ms, backend: BackendKind::Webgpu };
                Ok(Output { shape, data, timings })
            }
            Err(e) => {
                let reason = format!("the last WebGPU run failed, so the CPU answered: {e:#}");
                if job.engine.0.broken().is_some() {
                    self.gpu = None;
                    self.backend = Backend::cpu(Some(reason));
                } else {
                    self.backend.reason = Some(reason);
                }
                let t0 = now_ms();
                let outputs = self.model.run(job.tensor, &job.shape)?;
                let inference_ms = now_ms() - t0;
                let (shape, data) = self.remember(job.analysis, job.view, outputs);
                let timings = Timings { preprocess_ms: job.preprocess_ms, inference_ms, backend: BackendKind::Cpu };
                Ok(Output { shape, data, timings })
            }
        }
    }

    /// The GPU engine if it can still run; a broken device is dropped here for the CPU.
    pub(super) fn usable_gpu(&mut self) -> Option<GpuEngine> {
        if self.backend.name != BackendKind::Webgpu {
            return None;
        }
        let engine = self.gpu.clone()?;
        if let Some(why) = engine.0.broken() {
            self.gpu = None;
            self.backend = Backend::cpu(Some(format!("WebGPU stopped working, so the CPU answers: {why}")));
            return None;
        }
        Some(engine)
    }

    /// Destroys the GPU device, as a lost GPU would be (for tests of the fallback).
    pub fn lose_gpu_for_test(&self) {
        if let Some(g) = &self.gpu {
            g.0.destroy_device();
        }
    }
}
