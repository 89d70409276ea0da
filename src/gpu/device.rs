//! The adapter and its device: [`Gpu::acquire`] asks for them (and says why in words when
//! it cannot), and the helpers the engine builds on: storage and uniform buffers, error
//! scopes, the device's lost and uncaptured errors.

use anyhow::{bail, Result};
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

/// Why an adapter with `limits` cannot run the kernels (the first limit under `NEEDED`, named
/// as WebGPU names it), or `None`.
fn limits_too_low(limits: &wgpu::Limits, adapter_name: &str) -> Option<String> {
    let have = [
        limits.max_compute_invocations_per_workgroup,
        limits.max_compute_workgroup_storage_size,
        limits.max_storage_buffers_per_shader_stage,
    ];
    NEEDED.iter().zip(have).find(|((_, need), have)| have < need).map(|((what, need), have)| {
        format!("the adapter's limits are too low: {what} needs {need}, {adapter_name} has {have}")
    })
}

/// An adapter's device and queue.
pub struct Gpu {
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
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
        if let Some(why) = limits_too_low(&limits, &adapter_name) {
            return Err(why);
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
    pub(super) fn max_binding(&self) -> u64 {
        let l = self.device.limits();
        l.max_storage_buffer_binding_size.min(l.max_buffer_size)
    }

    /// A storage buffer holding `data`. Written through the queue rather than mapped at
    /// creation: in the browser a mapped range is a copy in wasm memory (411 MB more for
    /// fc6), while `writeBuffer` reads the wasm memory in place.
    pub(super) fn storage(&self, label: &str, data: &[f32]) -> wgpu::Buffer {
        self.storage_bytes(label, f32_bytes(data))
    }

    /// A storage buffer holding little-endian f32 `bytes`.
    pub(super) fn storage_bytes(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (bytes.len() as u64).max(4),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&buffer, 0, bytes);
        buffer
    }

    pub(super) fn uniform(&self, words: &[u32]) -> wgpu::Buffer {
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
    pub(super) async fn scoped<T>(&self, what: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
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
pub(super) fn f32_bytes(data: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and any byte is a valid u8; the length is in bytes.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adapter_below_the_kernels_limits_is_refused_naming_the_limit() {
        // WebGPU's defaults are enough
        assert_eq!(limits_too_low(&wgpu::Limits::default(), "A"), None);
        let low = wgpu::Limits { max_compute_workgroup_storage_size: 4096, ..wgpu::Limits::default() };
        assert_eq!(
            limits_too_low(&low, "Tiny (vulkan)").as_deref(),
            Some("the adapter's limits are too low: maxComputeWorkgroupStorageSize needs 8192, Tiny (vulkan) has 4096")
        );
        let low = wgpu::Limits { max_storage_buffers_per_shader_stage: 3, ..wgpu::Limits::default() };
        assert!(limits_too_low(&low, "B").unwrap().contains("maxStorageBuffersPerShaderStage needs 4, B has 3"));
    }
}
