#!/usr/bin/python3
"""Trains VGG-recipe networks on Fashion-MNIST and exports them to ONNX.

Run with Debian's python3-torch (PyPI's torch is CUDA-only on our machines) and the data
of Debian's dataset-fashion-mnist (Zalando, MIT), from the repository root:

    /usr/bin/python3 training/train.py fashion     # the bundled Fashion-VGG
    /usr/bin/python3 training/train.py depth       # configurations A, B, D, E (Table 3, small)

The recipe is the paper's: 3x3 convolutions, stride 1, padding 1, ReLU, a 2x2 max-pool
closing each block, a small fully connected head. Two departures, stated in the model
cards: batch normalisation after each convolution (the paper instead initialised its deeper
nets from configuration A; BN lets every depth train from scratch in minutes), and the
28x28 images are zero-padded to 32x32 so that five pools fit. Training is seeded.

Each run writes www/models/<name>.onnx, a sidecar <name>.json (preprocessing and labels,
read by the crate), and training/results/<name>.json (the model card's numbers: accuracy
on the 10,000 test images, the confusion matrix, the first-1,000 subset count, wall time).
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
          "Ankle boot"]  # Zalando's class names, in label order
SUBSET = 1000  # the first test images, re-counted through the crate by the Rust test
DEPTH_DIV = 8  # the depth experiment divides every width of Table 1 by this
# The paper's Table 3 (ImageNet val, single-scale; top-1 / top-5 error %) and Table 3's
# scale-jittered rows, quoted for comparison beside what we measure.
PAPER_TABLE3 = {
    "source": "Simonyan & Zisserman, ICLR 2015, Table 3 (ConvNet performance at a single test scale)",
    "train_test_scale_256": {"A": [29.6, 10.4], "A-LRN": [29.7, 10.5], "B": [28.7, 9.9], "C": [28.1, 9.4],
                             "D": [27.0, 8.8], "E": [27.3, 9.0]},
    "jittered_256_512_test_384": {"D": [25.6, 8.1], "E": [25.5, 8.0]},
}

# Table 1 of the paper; widths are divided by `div`. "M" closes a block with a 2x2 max-pool.
CFG = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
    # the bundled Fashion-VGG: three blocks of two, for 32x32 inputs
    "fashion": [64, 64, "M", 128, 128, "M", 256, 256, "M"],
}


def load_idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        data = f.read()
    if name.endswith("labels-idx1-ubyte.gz"):
        return np.frombuffer(data, np.uint8, offset=8).astype(np.int64)
    return np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28)


class Vgg(nn.Module):
    def __init__(self, cfg, div, hidden):
        super().__init__()
        layers, c = [], 1
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                w = v // div
                layers += [nn.Conv2d(c, w, 3, 1, 1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                c = w
        self.features = nn.Sequential(*layers)
        side = 32 // 2 ** cfg.count("M")
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c * side * side, hidden), nn.ReLU(inplace=True),
                                        nn.Dropout(0.5), nn.Linear(hidden, 10))
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.features(x))


def pad32(images):
    """uint8 [N, 28, 28] -> uint8 [N, 32, 32], two zero pixels on each side."""
    return np.pad(images, ((0, 0), (2, 2), (2, 2)))


def augment(x, rng):
    """Random horizontal flips and shifts of up to 2 pixels (the paper's flips and crops)."""
    n = x.shape[0]
    flip = torch.from_numpy(rng.random(n) < 0.5)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (2, 2, 2, 2))
    dy, dx = rng.integers(0, 5, 2)
    return padded[:, :, dy:dy + 32, dx:dx + 32]


def evaluate(model, x, y, mean, std):
    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            xb = (torch.from_numpy(x[i:i + 1000]).float()[:, None] / 255 - mean) / std
            preds.append(model(xb).argmax(1).numpy())
    preds = np.concatenate(preds)
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (y, preds), 1)
    return preds, confusion


def train(name, cfg, div, hidden, epochs, seed, threads, export_as=None):
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    xtr, ytr = pad32(load_idx("train-images-idx3-ubyte.gz")), load_idx("train-labels-idx1-ubyte.gz")
    xte, yte = pad32(load_idx("t10k-images-idx3-ubyte.gz")), load_idx("t10k-labels-idx1-ubyte.gz")
    # normalisation from the training images (after padding), on the 0-1 scale
    mean, std = float(xtr.mean() / 255), float(xtr.std() / 255)
    model = Vgg(CFG[cfg], div, hidden)
    params = sum(p.numel() for p in model.parameters())
    batch = 128
    steps = epochs * (len(xtr) // batch)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=steps)
    xtr_t, ytr_t = torch.from_numpy(xtr), torch.from_numpy(ytr)
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(xtr)))
        total = 0.0
        for i in range(len(xtr) // batch):
            idx = order[i * batch:(i + 1) * batch]
            xb = augment((xtr_t[idx].float()[:, None] / 255 - mean) / std, rng)
            loss = F.cross_entropy(model(xb), ytr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        preds, _ = evaluate(model, xte, yte, mean, std)
        print(f"{name} epoch {epoch + 1}/{epochs} loss {total / (len(xtr) // batch):.4f} "
              f"test acc {(preds == yte).mean():.4f} ({time.time() - t0:.0f} s)", flush=True)
    wall = time.time() - t0
    preds, confusion = evaluate(model, xte, yte, mean, std)
    if export_as:
        export(model, export_as, mean, std)
    result = {
        "name": name, "exported_as": export_as, "config": cfg, "conv_layers": sum(1 for v in CFG[cfg] if v != "M"),
        "width_divisor": div, "hidden": hidden, "parameters": params, "epochs": epochs, "seed": seed,
        "batch": batch, "threads": threads, "wall_seconds": round(wall, 1), "torch": torch.__version__,
        "test_images": len(yte), "test_correct": int((preds == yte).sum()),
        "test_accuracy": float((preds == yte).mean()),
        "subset": SUBSET, "subset_correct": int((preds[:SUBSET] == yte[:SUBSET]).sum()),
        "subset_predictions": preds[:SUBSET].tolist(),
        "confusion_matrix": confusion.tolist(), "labels": LABELS,
        "normalisation": {"mean": mean, "std": std},
    }
    os.makedirs(os.path.join(ROOT, "training/results"), exist_ok=True)
    with open(os.path.join(ROOT, "training/results", name + ".json"), "w") as f:
        json.dump(result, f, indent=1)
    print(f"{name}: test accuracy {result['test_accuracy']:.4f}, {params:,} parameters, {wall:.0f} s", flush=True)
    return result


def export(model, name, mean, std):
    model.eval()
    out = os.path.join(ROOT, "www/models", name + ".onnx")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    torch.onnx.export(model, torch.zeros(1, 1, 32, 32), out, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    # the crate's preprocessing, as in training: grey, 0-1, the training mean and std; the
    # image becomes 28x28 (shorter side 28, centre crop) and gets the 2-pixel black border
    sidecar = {"preprocess": {"channelOrder": "gray", "scale": 1 / 255, "mean": [mean] * 3, "std": [std] * 3,
                              "resize": 28, "crop": [28, 28], "pad": 2}, "labels": LABELS}
    with open(os.path.join(ROOT, "www/models", name + ".json"), "w") as f:
        json.dump(sidecar, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["fashion", "depth"])
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    a = ap.parse_args()
    if a.what == "fashion":
        train("fashion-vgg", "fashion", 4, 256, a.epochs or 15, a.seeds[0], a.threads, export_as="fashion-vgg")
        return
    rows = []
    for cfg in "ABDE":
        runs = [train(f"depth-{cfg}-seed{seed}", cfg, DEPTH_DIV, 128, a.epochs or 8, seed, a.threads,
                      export_as=f"depth-{cfg}" if i == 0 else None) for i, seed in enumerate(a.seeds)]
        errors = [100 * (1 - r["test_accuracy"]) for r in runs]
        rows.append({"config": cfg, "conv_layers": runs[0]["conv_layers"], "parameters": runs[0]["parameters"],
                     "model": f"depth-{cfg}.onnx", "seeds": a.seeds, "test_error": errors,
                     "mean_test_error": float(np.mean(errors)),
                     "spread": float(max(errors) - min(errors)) if len(errors) > 1 else None,
                     "wall_seconds": [r["wall_seconds"] for r in runs], "epochs": runs[0]["epochs"]})
    table = {"dataset": "Fashion-MNIST, 10,000 test images, top-1 error %", "width_divisor": DEPTH_DIV,
             "recipe": "training/train.py depth", "rows": rows, "paper": PAPER_TABLE3}
    with open(os.path.join(ROOT, "www/models/depth.json"), "w") as f:
        json.dump(table, f, indent=1)
    for r in rows:
        print(f"{r['config']}: {r['conv_layers']} conv layers, test error {r['test_error']} %, {r['wall_seconds']} s")


if __name__ == "__main__":
    sys.exit(main())
