#!/usr/bin/env python3
"""Writes www/samples/fashion-<class>.png: the first Fashion-MNIST test image of each class
(Zalando, MIT; Debian's dataset-fashion-mnist), 28x28 grey, for the page and its tests.
Held-out test images: the bundled Fashion-VGG never trained on them."""
import gzip
import json
import os

import numpy as np
from PIL import Image

DATA = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
          "Ankle boot"]
with gzip.open(f"{DATA}/t10k-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
with gzip.open(f"{DATA}/t10k-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)
entries = []
for c, name in enumerate(LABELS):
    i = int(np.argmax(labels == c))
    slug = name.lower().replace("/", "-").replace(" ", "-")
    Image.fromarray(images[i], "L").save(f"www/samples/fashion-{slug}.png")
    entries.append({"name": f"{name} (Fashion-MNIST test image {i})", "file": f"fashion-{slug}.png",
                    "label": name, "credit": "Zalando Research, Fashion-MNIST", "license": "MIT",
                    "source": f"Fashion-MNIST t10k image {i} (Debian dataset-fashion-mnist)", "kind": "fashion"})
path = "www/samples/samples.json"
samples = [s for s in json.load(open(path)) if s.get("kind") != "fashion"] + entries
with open(path, "w") as f:
    f.write("[\n" + ",\n".join("  " + json.dumps(s) for s in samples) + "\n]\n")
print(f"wrote {len(entries)} Fashion-MNIST samples")
