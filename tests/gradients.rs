//! The backward pass against central finite differences (float64, numpy; see
//! tests/fixtures/make_fixtures.py), and effective receptive fields inside theoretical ones.

mod common;

use common::*;
use vgg_wasm::pipeline::{Options, Pipeline};

fn grad_pipeline() -> Pipeline {
    let mut p = Pipeline::new(GRAD_MODEL, Options { activations: true, ..Default::default() }).unwrap();
    p.forward_tensor(&f32s(GRAD_INPUT), &[1, 3, 20, 20]).unwrap();
    p
}

/// Largest |a - b| over the largest |b|: at every input pixel, not a sample.
fn check(name: &str, got: &[f32], fd: &[f32]) {
    let err = rel_max_err(got, fd);
    println!("{name}: relative max error vs finite differences {err:.2e} over {} values", fd.len());
    assert!(err <= GRADIENT_TOLERANCE, "{name}: relative error {err}");
}

#[test]
fn saliency_matches_finite_differences() {
    let g = grad_pipeline().saliency(Some(3)).unwrap();
    assert_eq!(g.shape, [3, 20, 20]);
    assert!(g.target.starts_with("class 3"));
    check("saliency of class 3", &g.data, &f32s(GRAD_SALIENCY_3));
    // the map is the largest |gradient| over channels (Simonyan et al.), at every pixel,
    // from the finite differences
    let fd = f32s(GRAD_SALIENCY_3);
    let p = 20 * 20;
    for i in 0..p {
        let want = (0..3).map(|c| fd[c * p + i].abs()).fold(0.0, f32::max);
        assert!(
            (g.map[i] - want).abs() <= GRADIENT_TOLERANCE * fd.iter().fold(0f32, |m, v| m.max(v.abs())),
            "map at {i}"
        );
    }
    // the graph ends in Softmax; saliency is the gradient of the score before it (Simonyan,
    // Vedaldi & Zisserman 2014, Section 3), which the gradient of the probability is not
    let prob = f32s(GRAD_PROB_3);
    let err = rel_max_err(&g.data, &prob);
    println!("saliency vs the gradient of the probability: relative max difference {err:.2}");
    assert!(err > 0.1, "saliency followed the Softmax: {err}");
}

#[test]
fn a_unit_that_is_zero_still_shows_where_it_looks() {
    // its ReLU outputs 0 here, so the gradient through the ReLU would be all zeros; the
    // effective field is the gradient of its pre-activation (Luo et al. 2016)
    let p = grad_pipeline();
    let (c, y, x) = GRAD_ZERO_UNIT;
    let (_, relu) = p.activation("relu2_1").unwrap();
    assert_eq!(relu[(c * 10 + y) * 10 + x], 0.0, "the unit is inactive on this input");
    let g = p.unit_gradient("relu2_1", c, y, x).unwrap();
    let fd = f32s(GRAD_UNIT_ZERO);
    assert!(fd.iter().any(|v| *v != 0.0));
    check("d conv2_1[inactive unit] / d input", &g.data, &fd);
}

#[test]
fn unit_gradient_matches_finite_differences_and_stays_in_its_field() {
    let p = grad_pipeline();
    let g = p.unit_gradient("conv2_1", 2, 4, 6).unwrap();
    check("d conv2_1[2, 4, 6] / d input", &g.data, &f32s(GRAD_UNIT_CONV2_1_2_4_6));
    // every non-zero lies inside the theoretical receptive field
    let f = p.receptive_field("conv2_1", 4, 6).unwrap();
    assert_eq!(f.unclipped.bottom - f.unclipped.top + 1, 10, "conv2_1 sees 10x10");
    let mut nonzero = 0;
    for c in 0..3 {
        for y in 0..20i64 {
            for x in 0..20i64 {
                if g.data[(c * 20 + y as usize) * 20 + x as usize] != 0.0 {
                    nonzero += 1;
                    assert!(
                        (f.unclipped.top..=f.unclipped.bottom).contains(&y)
                            && (f.unclipped.left..=f.unclipped.right).contains(&x),
                        "gradient at ({y}, {x}) outside {:?}",
                        f.unclipped
                    );
                }
            }
        }
    }
    assert!(nonzero > 50, "{nonzero} non-zeros");
    // a ReLU layer is differentiated at its pre-activation: same answer
    let relu = p.unit_gradient("relu2_1", 2, 4, 6).unwrap();
    assert_eq!(relu.data, g.data);
}

#[test]
fn gradient_errors_name_the_problem() {
    let p = grad_pipeline();
    let e = format!("{:#}", p.unit_gradient("conv2_1", 6, 0, 0).unwrap_err());
    assert!(e.contains("channel 6") && e.contains("[6, 10, 10]"), "{e}");
    let e = format!("{:#}", p.saliency(Some(10)).unwrap_err());
    assert!(e.contains("class index 10") && e.contains("10 classes"), "{e}");
    // without options.activations there is nothing to differentiate
    let mut plain = Pipeline::new(GRAD_MODEL, Options::default()).unwrap();
    plain.forward_tensor(&f32s(GRAD_INPUT), &[1, 3, 20, 20]).unwrap();
    let e = format!("{:#}", plain.saliency(None).unwrap_err());
    assert!(e.contains("options.activations"), "{e}");
}

#[test]
fn kept_activations_are_read_after_relu_and_pool_consistently() {
    let p = grad_pipeline();
    let (shape, data) = p.activation("conv2_1").unwrap();
    assert_eq!(*shape, vec![1, 6, 10, 10]);
    assert!(data.iter().all(|v| *v >= 0.0), "conv2_1 is read after its ReLU");
    let (pool_shape, pool) = p.activation("pool2").unwrap();
    assert_eq!(*pool_shape, vec![1, 6, 5, 5]);
    // pool2 is the 2x2 max of relu2_1
    for c in 0..6 {
        for y in 0..5 {
            for x in 0..5 {
                let m = (0..4).map(|k| data[(c * 10 + 2 * y + k / 2) * 10 + 2 * x + k % 2]).fold(f32::MIN, f32::max);
                assert_eq!(pool[(c * 5 + y) * 5 + x], m);
            }
        }
    }
    assert!(p.kept_layers().contains(&"relu1_2".to_string()));
}
