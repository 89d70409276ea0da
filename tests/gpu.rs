//! The GPU path (feature `webgpu`) on Mesa's software Vulkan (lavapipe): every kernel
//! against a plain Rust reference on shapes that do not fit its tiles, then every fixture
//! model against the CPU path, the fallback reasons, and a device lost mid-session.
#![cfg(feature = "webgpu")]

mod common;

use common::*;
use vgg_wasm::gpu::plan::{Kernel, Plan, Weights, Window};
use vgg_wasm::gpu::{Engine, Gpu};
use vgg_wasm::pipeline::{BackendChoice, BackendKind, Options, Pipeline};

/// The CPU path's tolerance for the GPU: relative to the output's largest magnitude.
const GPU_TOLERANCE: f32 = 1e-4;

fn gpu() -> Gpu {
    pollster::block_on(Gpu::acquire(true)).unwrap_or_else(|e| panic!("no GPU for the tests: {e}"))
}

/// A seeded value in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(12345);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32) * 2.0 - 1.0
        })
        .collect()
}

fn window(
    kernel: [usize; 2],
    stride: [usize; 2],
    pad_begin: [usize; 2],
    pad_end: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
) -> Window {
    Window { kernel, stride, pad_begin, pad_end, dilation, ceil_mode }
}

/// Runs one kernel on the GPU over a [C, H, W] input.
fn run_one(kernel: Kernel<'_>, chw: [usize; 3], input: &[f32], max_binding: Option<u64>) -> (Vec<usize>, Vec<f32>) {
    let output_rank = if matches!(kernel, Kernel::Dense { .. }) { 2 } else { 4 };
    let plan = Plan { kernels: vec![kernel], input_nhwc: false, softmax: false, output_rank };
    let engine = pollster::block_on(async {
        match max_binding {
            Some(b) => Engine::with_max_binding(gpu(), plan, b).await,
            None => Engine::new(gpu(), plan).await,
        }
    })
    .unwrap();
    let shape = [1, chw[0], chw[1], chw[2]];
    pollster::block_on(engine.run(input, &shape)).unwrap()
}

/// Reference convolution, straight from the definition.
fn conv_ref(x: &[f32], [c, h, w]: [usize; 3], wt: &[f32], b: &[f32], o: usize, wd: &Window, relu: bool) -> Vec<f32> {
    let [oh, ow] = wd.output_hw([h, w]).unwrap();
    let [kh, kw] = wd.kernel;
    let mut y = vec![0.0; o * oh * ow];
    for m in 0..o {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut s = b[m] as f64;
                for ci in 0..c {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * wd.stride[0] + ky * wd.dilation[0]) as isize - wd.pad_begin[0] as isize;
                            let ix = (ox * wd.stride[1] + kx * wd.dilation[1]) as isize - wd.pad_begin[1] as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                s += (wt[((m * c + ci) * kh + ky) * kw + kx]
                                    * x[(ci * h + iy as usize) * w + ix as usize])
                                    as f64;
                            }
                        }
                    }
                }
                y[(m * oh + oy) * ow + ox] = if relu { s.max(0.0) as f32 } else { s as f32 };
            }
        }
    }
    y
}

fn pool_ref(x: &[f32], [c, h, w]: [usize; 3], wd: &Window, max: bool, count_pad: bool) -> Vec<f32> {
    let [oh, ow] = wd.output_hw([h, w]).unwrap();
    let mut y = Vec::new();
    for ch in 0..c {
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut best, mut sum, mut inside, mut padded) = (f32::MIN, 0.0f32, 0, 0);
                for ky in 0..wd.kernel[0] {
                    for kx in 0..wd.kernel[1] {
                        let iy = (oy * wd.stride[0] + ky * wd.dilation[0]) as isize - wd.pad_begin[0] as isize;
                        let ix = (ox * wd.stride[1] + kx * wd.dilation[1]) as isize - wd.pad_begin[1] as isize;
                        if iy < (h + wd.pad_end[0]) as isize && ix < (w + wd.pad_end[1]) as isize {
                            padded += 1;
                        }
                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                            let v = x[(ch * h + iy as usize) * w + ix as usize];
                            best = best.max(v);
                            sum += v;
                            inside += 1;
                        }
                    }
                }
                y.push(if max {
                    best
                } else if count_pad {
                    sum / padded as f32
                } else {
                    sum / inside.max(1) as f32
                });
            }
        }
    }
    y
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let err = rel_max_err(got, want);
    assert!(err <= GPU_TOLERANCE, "{what}: relative error {err} > {GPU_TOLERANCE}");
}

#[test]
fn convolutions_match_the_definition_on_shapes_that_do_not_fit_the_tiles() {
    // (channels in, out, input h, w, window, relu): 3x3 pad 1 (VGG), C not a multiple of 4,
    // maps not a multiple of the 64-pixel tile, more outputs than one 64-row tile; strides,
    // asymmetric pads and dilation; a 1x1 map
    let cases = [
        (3, 5, 13, 9, window([3, 3], [1, 1], [1, 1], [1, 1], [1, 1], false), true),
        (6, 70, 17, 11, window([3, 3], [1, 1], [1, 1], [1, 1], [1, 1], false), false),
        (5, 7, 12, 10, window([3, 2], [2, 1], [1, 0], [2, 1], [2, 1], false), true),
        (9, 66, 1, 1, window([3, 3], [1, 1], [1, 1], [1, 1], [1, 1], false), true),
        (4, 3, 8, 8, window([1, 1], [1, 1], [0, 0], [0, 0], [1, 1], false), false),
    ];
    for (i, (c, o, h, w, wd, relu)) in cases.into_iter().enumerate() {
        let x = values(c * h * w, 1 + i as u32);
        let wt = values(o * c * wd.kernel[0] * wd.kernel[1], 100 + i as u32);
        let b = values(o, 200 + i as u32);
        let want = conv_ref(&x, [c, h, w], &wt, &b, o, &wd, relu);
        let k = Kernel::Conv { inputs: c, outputs: o, window: wd, weights: wt, bias: b, relu };
        let (shape, got) = run_one(k, [c, h, w], &x, None);
        let [oh, ow] = wd.output_hw([h, w]).unwrap();
        assert_eq!(shape, [1, o, oh, ow], "case {i}");
        assert_close(&format!("conv case {i}"), &got, &want);
    }
}

#[test]
fn pools_match_the_definition() {
    let cases = [
        (true, window([2, 2], [2, 2], [0, 0], [0, 0], [1, 1], false), false, [3, 7, 5]),
        (true, window([2, 2], [2, 2], [0, 0], [0, 0], [1, 1], true), false, [2, 7, 5]),
        (true, window([3, 3], [1, 1], [1, 1], [1, 1], [2, 2], false), false, [2, 6, 6]),
        (false, window([2, 2], [1, 1], [1, 1], [1, 1], [1, 1], false), true, [3, 5, 4]),
        (false, window([3, 3], [2, 2], [1, 1], [1, 1], [1, 1], true), false, [2, 8, 7]),
    ];
    for (i, (max, wd, count_pad, chw)) in cases.into_iter().enumerate() {
        let x = values(chw.iter().product(), 300 + i as u32);
        let want = pool_ref(&x, chw, &wd, max, count_pad);
        let (_, got) = run_one(Kernel::Pool { max, window: wd, count_pad }, chw, &x, None);
        assert_close(&format!("pool case {i}"), &got, &want);
    }
}

#[test]
fn dense_layers_match_the_definition_also_split_into_chunks() {
    // inputs not a multiple of 4; outputs over several 64-invocation groups; the weights
    // split into chunks of whole rows as fc6's are on a real adapter; as values, and as the
    // file's bytes read in place (whole rows, or padded to a multiple of 4 when they are not)
    let cases = [
        (10, 67, true, None, false, [10, 1, 1]),
        (105, 130, false, Some(4000), true, [3, 5, 7]),
        (120, 70, true, Some(2000), true, [3, 5, 8]),
    ];
    for (i, (inputs, outputs, relu, limit, as_bytes, chw)) in cases.into_iter().enumerate() {
        let x = values(inputs, 400 + i as u32);
        let w = values(inputs * outputs, 500 + i as u32);
        let b = values(outputs, 600 + i as u32);
        let want: Vec<f32> = (0..outputs)
            .map(|o| {
                let s = b[o] + (0..inputs).map(|k| w[o * inputs + k] * x[k]).sum::<f32>();
                if relu {
                    s.max(0.0)
                } else {
                    s
                }
            })
            .collect();
        let bytes: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
        let weights = if as_bytes { Weights::Bytes(&bytes) } else { Weights::Values(w.clone()) };
        let k = Kernel::Dense { inputs, outputs, weights, bias: b, relu };
        // a dense layer reads maps flattened in [C, H, W] order
        let (shape, got) = run_one(k, chw, &x, limit);
        assert_eq!(shape, [1, outputs]);
        assert_close(&format!("dense case {i}"), &got, &want);
    }
}

/// Affine and ReLU are exact arithmetic here, so the GPU must give the very same floats: the
/// scales are powers of two (the product is exact, so a fused multiply-add rounds as a
/// multiply then add does) and the scalar case multiplies by the same f32 1/255 the kernel gets.
#[test]
fn affine_and_relu_match_the_definition_exactly() {
    let chw = [3, 5, 3];
    let x = values(45, 700);
    let (scale, shift) = (vec![0.5, -2.0, 4.0], vec![1.0, 0.0, -0.25]);
    let want: Vec<f32> = x.iter().enumerate().map(|(i, v)| v * scale[i / 15] + shift[i / 15]).collect();
    assert_exact("per-channel affine", &run_one(Kernel::Affine { scale, shift }, chw, &x, None).1, &want);
    let k = 1.0f32 / 255.0;
    let want: Vec<f32> = x.iter().map(|v| v * k).collect();
    assert_exact(
        "scalar affine",
        &run_one(Kernel::Affine { scale: vec![k], shift: vec![0.0] }, chw, &x, None).1,
        &want,
    );
    let want: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
    assert_exact("relu", &run_one(Kernel::Relu, chw, &x, None).1, &want);
}

fn assert_exact(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let differ: Vec<_> =
        got.iter().zip(want).enumerate().filter(|(_, (g, w))| g.to_bits() != w.to_bits()).take(3).collect();
    assert!(differ.is_empty(), "{what}: (index, (got, want)) {differ:?}");
}

fn on(backend: BackendChoice) -> Options {
    Options { backend: Some(backend), ..Options::default() }
}

/// A GPU run of a prepared tensor through the pipeline, as `forwardTensorAsync` makes it.
fn gpu_forward(p: &mut Pipeline, data: &[f32], shape: &[usize]) -> vgg_wasm::pipeline::Output {
    let job = p.gpu_tensor_job(data, shape).unwrap().expect("the GPU is the backend");
    let done = pollster::block_on(job.run());
    p.finish_gpu(done).unwrap()
}

#[test]
fn every_fixture_runs_on_the_gpu_as_on_the_cpu_or_says_why_not() {
    for fx in FIXTURES {
        // "webgpu": the tests' adapter (lavapipe) is a software one, which "auto" leaves
        let created = pollster::block_on(Pipeline::create(fx.model.to_vec(), on(BackendChoice::Webgpu)));
        let input = f32s(fx.input);
        if fx.name.contains("int8") {
            // int8 ops are the CPU's; the error names the first one
            let Err(e) = created else { panic!("{}: an int8 model is refused for the GPU", fx.name) };
            let reason = format!("{e:#}");
            // (QuantizeLinear, or DynamicQuantizeLinear in a dynamically quantised model)
            assert!(reason.contains("unsupported op `") && reason.contains("QuantizeLinear`"), "{}: {reason}", fx.name);
            continue;
        }
        let mut p = created.unwrap_or_else(|e| panic!("{}: {e:#}", fx.name));
        let backend = p.info().unwrap().backend;
        assert_eq!(backend.name, BackendKind::Webgpu, "{}: {:?}", fx.name, backend.reason);
        let gpu = gpu_forward(&mut p, &input, fx.input_shape);
        assert_eq!(gpu.timings.backend, BackendKind::Webgpu, "{}", fx.name);
        let cpu = p.forward_tensor(&input, fx.input_shape).unwrap();
        assert_eq!(gpu.shape, cpu.shape, "{}", fx.name);
        let err = rel_max_err(&gpu.data, &cpu.data);
        println!("{:24} GPU vs CPU relative max error {err:.2e}", fx.name);
        assert!(err <= GPU_TOLERANCE, "{}: relative error {err} > {GPU_TOLERANCE}", fx.name);
    }
}

#[test]
fn auto_leaves_a_software_adapter_for_the_cpu_and_says_why() {
    let gpu = gpu();
    if !gpu.adapter.contains("software") {
        // a machine with a real GPU: "auto" takes it (the CPU is not known to be faster)
        let p =
            pollster::block_on(Pipeline::create(fixture("zoo_vgg16").model.to_vec(), on(BackendChoice::Auto))).unwrap();
        assert_eq!(p.info().unwrap().backend.name, BackendKind::Webgpu);
        return;
    }
    let p = pollster::block_on(Pipeline::create(fixture("zoo_vgg16").model.to_vec(), on(BackendChoice::Auto))).unwrap();
    let backend = p.info().unwrap().backend;
    assert_eq!(backend.name, BackendKind::Cpu);
    let reason = backend.reason.unwrap_or_default();
    assert!(
        reason.starts_with("the only WebGPU adapter is a software one, ")
            && reason.ends_with(": the CPU is faster here"),
        "{reason}"
    );
    assert!(reason.contains(&gpu.adapter), "{reason} names {}", gpu.adapter);
}

#[test]
fn auto_on_the_gpu_falls_back_to_the_cpu_on_an_op_it_lacks_naming_it() {
    // (softwareGpu: "auto" takes the tests' software adapter, so that it reaches the op check)
    let opts = Options { software_gpu: true, ..on(BackendChoice::Auto) };
    let p = pollster::block_on(Pipeline::create(fixture("zoo_vgg16_int8").model.to_vec(), opts.clone())).unwrap();
    let backend = p.info().unwrap().backend;
    assert_eq!(backend.name, BackendKind::Cpu);
    let reason = backend.reason.unwrap_or_default();
    assert!(reason.contains("unsupported op `") && reason.contains("QuantizeLinear`"), "{reason}");
    // and a model it runs goes to the GPU
    let p = pollster::block_on(Pipeline::create(fixture("zoo_vgg16").model.to_vec(), opts)).unwrap();
    assert_eq!(p.info().unwrap().backend.name, BackendKind::Webgpu);
}

#[test]
fn asking_for_webgpu_where_it_cannot_run_fails_with_the_reason() {
    let e = pollster::block_on(Pipeline::create(fixture("zoo_vgg16_int8").model.to_vec(), on(BackendChoice::Webgpu)))
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("webgpu") && msg.contains("QuantizeLinear"), "{msg}");
    // and the synchronous constructor refuses it, pointing to create
    let e = Pipeline::new(fixture("zoo_vgg16").model, on(BackendChoice::Webgpu)).unwrap_err();
    assert!(format!("{e:#}").contains("Vgg.create"), "{e:#}");
}

#[test]
fn a_lost_device_falls_back_to_the_cpu_for_the_next_call_with_the_reason() {
    let fx = fixture("zoo_vgg16");
    let input = f32s(fx.input);
    let mut p = pollster::block_on(Pipeline::create(fx.model.to_vec(), on(BackendChoice::Webgpu))).unwrap();
    let before = gpu_forward(&mut p, &input, fx.input_shape);
    p.lose_gpu_for_test();
    // the next call answers (on the CPU), the same numbers, and the backend says why
    let out = match p.gpu_tensor_job(&input, fx.input_shape).unwrap() {
        Some(job) => p.finish_gpu(pollster::block_on(job.run())).unwrap(),
        None => p.forward_tensor(&input, fx.input_shape).unwrap(),
    };
    assert_eq!(out.timings.backend, BackendKind::Cpu);
    assert!(rel_max_err(&out.data, &before.data) <= GPU_TOLERANCE);
    let backend = p.info().unwrap().backend;
    assert_eq!(backend.name, BackendKind::Cpu);
    assert!(backend.reason.as_deref().unwrap_or("").contains("lost"), "{backend:?}");
    // and stays usable
    assert!(p.gpu_tensor_job(&input, fx.input_shape).unwrap().is_none());
    assert!(p.use_backend("webgpu").is_err());
}

#[test]
fn activations_after_a_gpu_run_come_from_the_cpu() {
    let fx = fixture("zoo_vgg16");
    let input = f32s(fx.input);
    let opts = Options { activations: true, ..on(BackendChoice::Webgpu) };
    let mut p = pollster::block_on(Pipeline::create(fx.model.to_vec(), opts)).unwrap();
    gpu_forward(&mut p, &input, fx.input_shape);
    assert!(p.activation("conv1_1").is_err(), "not computed yet");
    p.complete_on_cpu().unwrap();
    let (shape, data) = p.activation("conv1_1").unwrap().clone();
    let mut cpu = Pipeline::new(fx.model, Options { activations: true, ..Options::default() }).unwrap();
    cpu.forward_tensor(&input, fx.input_shape).unwrap();
    let (want_shape, want) = cpu.activation("conv1_1").unwrap();
    assert_eq!(&shape, want_shape);
    assert_eq!(&data, want);
    // the user can switch to the CPU and back
    p.use_backend("cpu").unwrap();
    assert!(p.gpu_tensor_job(&input, fx.input_shape).unwrap().is_none());
    p.use_backend("webgpu").unwrap();
    assert!(p.gpu_tensor_job(&input, fx.input_shape).unwrap().is_some());
}

#[test]
fn taught_descriptors_from_the_gpu_equal_the_cpus() {
    use std::cell::RefCell;
    use vgg_wasm::teach::{Teacher, TeacherOptions, TrainOptions};
    // the bundled VGG16 conv base (real weights), at 32 and 48 px (its smallest input, and a
    // second scale that pools to the same 1x1 map), on the GPU and on the CPU; larger sides
    // run the same kernels, only slower on lavapipe (64 and 96 px took 125 s)
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/models/vgg16-conv-base.onnx"))
        .expect("./build.sh models makes the VGG16 conv base");
    let options = || TeacherOptions { side: Some(32), flip: true, scales: vec![48] };
    let gpu_base =
        RefCell::new(pollster::block_on(Pipeline::create(bytes.clone(), on(BackendChoice::Webgpu))).unwrap());
    let mut cpu_base = Pipeline::new(bytes, Options::default()).unwrap();
    let on_gpu = RefCell::new(Teacher::new(&gpu_base.borrow(), options()).unwrap());
    let mut on_cpu = Teacher::new(&cpu_base, options()).unwrap();
    for (i, label) in ["warm", "cool", "warm", "cool"].iter().enumerate() {
        let rgba = gradient_rgba(50 + 10 * i as u32, 40);
        let img = image::RgbaImage::from_raw(50 + 10 * i as u32, 40, rgba).unwrap();
        let g = pollster::block_on(Teacher::add_on_backend(&on_gpu, &gpu_base, label, &img)).unwrap();
        let c = on_cpu.add(&mut cpu_base, label, &img).unwrap();
        assert_eq!((g.timings.backend, c.timings.backend), (BackendKind::Webgpu, BackendKind::Cpu));
        assert_close(&format!("descriptor {i} (and its mirror's)"), &g.features, &c.features);
    }
    on_gpu.borrow_mut().train(&TrainOptions::default()).unwrap();
    on_cpu.train(&TrainOptions::default()).unwrap();
    let img = image::RgbaImage::from_raw(50, 40, gradient_rgba(50, 40)).unwrap();
    let g = pollster::block_on(Teacher::classify_on_backend(&on_gpu, &gpu_base, &img, 2)).unwrap();
    let c = on_cpu.classify(&mut cpu_base, &img, 2).unwrap();
    assert_eq!(g.predictions[0].label, c.predictions[0].label);
    assert!((g.predictions[0].probability - c.predictions[0].probability).abs() < 1e-3);
}
