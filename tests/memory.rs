//! Peak memory of loading a model, counted by a global allocator (wasm memory never shrinks,
//! so the load's peak is what a tab keeps). Its own test binary: the allocator counts
//! everything in the process, so nothing else may run beside it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(n: usize) {
    let live = LIVE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: every call is passed on to the system allocator unchanged; the counting around it
// allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grow(l.size());
        // SAFETY: the caller's contract for `alloc` is the system allocator's
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        // SAFETY: `p` came from `alloc`/`realloc` above, i.e. from the system allocator
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            grow(new - l.size());
        } else {
            LIVE.fetch_sub(l.size() - new, Relaxed);
        }
        // SAFETY: as for dealloc: `p` and `l` are the system allocator's
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Peak and kept bytes of loading a copy of `bytes` with `options`, counted from before the
/// copy: as a page's wasm memory holds the file it hands over, and the load frees it.
fn load(bytes: &[u8], options: vgg_wasm::pipeline::Options) -> (usize, usize) {
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let p = vgg_wasm::pipeline::Pipeline::new(bytes.to_vec(), options).unwrap();
    let (peak, kept) = (PEAK.load(Relaxed) - before, LIVE.load(Relaxed) - before);
    drop(p);
    (peak, kept)
}

/// The bundled VGG16 convolutional base (58 MB, written by `./build.sh models`), counted from
/// before the file's copy is made. Its input size is dynamic, so the model keeps the graph's
/// weights once to plan other sizes (`Model`'s template), beside its plan: with tract's
/// convolutions the plan holds them once more (2x the file in all); with Winograd F(4x4) (the
/// default) the plan holds 4x its 3x3 weights, transformed, and nothing else of them (5x in
/// all; were the originals or tract's packed copy kept too, 6x or more). The load's peak
/// stays within half a file of what is kept. (An earlier version of this test made the copy
/// before it counted, so the file's own freeing hid 1x of every figure.)
#[test]
fn loading_peaks_near_what_it_keeps_and_winograd_keeps_four_times_the_weights_and_the_graph() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/www/models/vgg16-conv-base.onnx");
    let bytes = std::fs::read(path).expect("www/models/vgg16-conv-base.onnx: run ./build.sh models");
    let file = bytes.len() as f64;
    let direct: vgg_wasm::pipeline::Options = serde_json::from_str(r#"{"convolution": "direct"}"#).unwrap();
    let mut cpu_kept = 0.0;
    for (name, options, keeps) in [("direct", direct, 1.95..2.1), ("auto", Default::default(), 4.9..5.5)] {
        let (peak, kept) = load(&bytes, options);
        let (peak, kept) = (peak as f64 / file, kept as f64 / file);
        println!("{name:6} file {file} bytes: peak {peak:.2}x, kept {kept:.2}x");
        assert!(keeps.contains(&kept), "{name}: the loaded model keeps {kept:.2}x the file, expected {keeps:?}");
        assert!(peak < kept + 0.5, "{name}: loading peaked at {peak:.2}x the file, keeping {kept:.2}x");
        cpu_kept = kept;
    }
    // (in this test, not one of its own: the counts are the whole process's)
    #[cfg(feature = "webgpu")]
    onto_the_gpu_no_second_copy_of_the_weights_stays(&bytes, cpu_kept);
}

/// Loaded onto the GPU (Mesa's lavapipe natively), a model keeps its CPU plan (activations,
/// gradients and the fallback read it) and no copy of its weights besides: they go to GPU
/// buffers as the model loads, and those are the driver's memory, outside the heap counted
/// here as they are outside wasm memory in the browser. A copy kept on this side would add
/// the weights once more (1x the file).
#[cfg(feature = "webgpu")]
fn onto_the_gpu_no_second_copy_of_the_weights_stays(bytes: &[u8], cpu_kept: f64) {
    use vgg_wasm::pipeline::{BackendChoice, BackendKind, Options, Pipeline};
    let file = bytes.len() as f64;
    let before = LIVE.load(Relaxed);
    let options = Options { backend: Some(BackendChoice::Webgpu), ..Options::default() };
    let p = pollster::block_on(Pipeline::create(bytes.to_vec(), options)).expect("the GPU path on lavapipe");
    assert_eq!(p.info().unwrap().backend.name, BackendKind::Webgpu);
    let kept = (LIVE.load(Relaxed) - before) as f64 / file;
    drop(p);
    println!("webgpu file {file} bytes: kept {kept:.2}x (the CPU plan alone: {cpu_kept:.2}x)");
    assert!(
        kept < cpu_kept + 0.25,
        "loaded onto the GPU, the model keeps {kept:.2}x the file: more than its CPU plan's {cpu_kept:.2}x"
    );
}
