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

/// Names that mark a software (CPU) adapter where the adapter does not say so itself:
/// Chromium's SwiftShader, Mesa's llvmpipe/lavapipe, Windows' WARP ("Microsoft Basic Render").
const SOFTWARE_NAMES: [&str; 5] = ["swiftshader", "llvmpipe", "lavapipe", "microsoft basic render", "software"];

/// Whether an adapter is a software one: its device type says so (wgpu's `Cpu`), the browser
/// marks it a fallback adapter, or its name is a known software rasteriser's.
fn is_software(device_type: wgpu::DeviceType, fallback: bool, name: &str) -> bool {
    let name = name.to_lowercase();
    device_type == wgpu::DeviceType::Cpu || fallback || SOFTWARE_NAMES.iter().any(|s| name.contains(s))
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
    /// Asks for an adapter (the high-performance one where there are two, a laptop's discrete
    /// GPU) and a device with the adapter's own limits. A software adapter (SwiftShader,
    /// lavapipe) is taken only with `software`: VGG16 runs ~18x slower on SwiftShader than on
    /// the CPU path (measured here), so "auto" leaves it and "webgpu" (a request for the GPU
    /// whatever it is, as the tests make) takes it. The error says why in words (no
    /// `navigator.gpu`, no adapter, a software one, limits too low).
    pub async fn acquire(software: bool) -> std::result::Result<Gpu, String> {
        #[cfg(target_arch = "wasm32")]
        if !navigator_has_gpu() {
            return Err("WebGPU is not available here (navigator.gpu is missing)".into());
        }
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::BROWSER_WEBGPU | wgpu::Backends::VULKAN,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        // natively the fastest kind first: discrete, integrated, virtual, other, software
        #[cfg(not(target_arch = "wasm32"))]
        let adapter = {
            use wgpu::DeviceType::{Cpu, DiscreteGpu, IntegratedGpu, VirtualGpu};
            let rank = |t: wgpu::DeviceType| match t {
                DiscreteGpu => 0,
                IntegratedGpu => 1,
                VirtualGpu => 2,
                Cpu => 4,
                _ => 3,
            };
            let mut all = instance.enumerate_adapters(wgpu::Backends::VULKAN).await;
            all.sort_by_key(|a| rank(a.get_info().device_type));
            all.into_iter().next().ok_or_else(|| "no Vulkan adapter (is mesa-vulkan-drivers installed?)".to_string())?
        };
        #[cfg(target_arch = "wasm32")]
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("no WebGPU adapter: {e}"))?;
        let info = adapter.get_info();
        #[cfg(target_arch = "wasm32")]
        let (name, fallback) = {
            let browser = browser_adapter().await;
            let fallback = browser.as_ref().is_some_and(|b| b.1);
            let name = if info.name.is_empty() { browser.map(|b| b.0) } else { Some(info.name.clone()) };
            (name, fallback)
        };
        #[cfg(not(target_arch = "wasm32"))]
        let (name, fallback) = ((!info.name.is_empty()).then(|| info.name.clone()), false);
        let name = name.unwrap_or_else(|| "an unnamed adapter".into());
        let soft = is_software(info.device_type, fallback, &name);
        let adapter_name = format!("{name} ({}{})", info.backend, if soft { ", software" } else { "" });
        if soft && !software {
            return Err(format!("the only WebGPU adapter is a software one, {adapter_name}: the CPU is faster here"));
        }
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
/// swiftshader"), and whether the browser marks it a fallback adapter (`info.isFallbackAdapter`,
/// or the older `isFallbackAdapter` on the adapter): wgpu names a browser adapter by its
/// `description`, which browsers usually leave empty (it reads `info.isFallbackAdapter` as
/// `DeviceType::Cpu`, but not the older flag on the adapter).
#[cfg(target_arch = "wasm32")]
async fn browser_adapter() -> Option<(String, bool)> {
    use wasm_bindgen::JsCast;
    let get = |v: &wasm_bindgen::JsValue, k: &str| js_sys::Reflect::get(v, &k.into()).ok();
    let gpu = get(&get(&js_sys::global(), "navigator")?, "gpu")?;
    let request = get(&gpu, "requestAdapter")?.dyn_into::<js_sys::Function>().ok()?;
    // the same options as wgpu's request, so that this is the same adapter
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"powerPreference".into(), &"high-performance".into()).ok()?;
    let promise = request.call1(&gpu, &options).ok()?.dyn_into::<js_sys::Promise>().ok()?;
    let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    let info = get(&adapter, "info")?;
    let parts: Vec<String> = ["vendor", "architecture", "description"]
        .iter()
        .filter_map(|k| get(&info, k)?.as_string())
        .filter(|s| !s.is_empty())
        .collect();
    let fallback = [get(&info, "isFallbackAdapter"), get(&adapter, "isFallbackAdapter")]
        .iter()
        .any(|v| v.as_ref().and_then(|v| v.as_bool()).unwrap_or(false));
    Some((if parts.is_empty() { "an unnamed adapter".into() } else { parts.join(" ") }, fallback))
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

    #[test]
    fn software_adapters_are_known_by_type_flag_or_name() {
        use wgpu::DeviceType::{Cpu, DiscreteGpu, IntegratedGpu, Other};
        // as Chromium names SwiftShader through adapter.info, and Mesa its Vulkan rasteriser
        assert!(is_software(Other, false, "google swiftshader"));
        assert!(is_software(Other, false, "llvmpipe (LLVM 15.0.6, 256 bits)"));
        assert!(is_software(Cpu, false, "a name that says nothing"));
        assert!(is_software(Other, true, "a fallback adapter"));
        assert!(!is_software(DiscreteGpu, false, "NVIDIA GeForce RTX 3080"));
        assert!(!is_software(IntegratedGpu, false, "intel gen-12lp"));
        assert!(!is_software(Other, false, "apple metal-3"));
    }
}
