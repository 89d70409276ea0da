#!/usr/bin/env python3
"""Writes www/samples/thumbs/<name>.jpg for each sample photo: the picture its button shows
(72 px, drawn at 2x: 144x144, the centre square, JPEG quality 82), so that a first visit
fetches a few kilobytes per photo instead of the full image (coffee.png alone is 466 KB);
the full image is fetched when the sample is picked. Sets each photo's "thumb" in
www/samples/samples.json. The Fashion-MNIST samples (28x28, under 1 KB) are their own
thumbnails."""
import json
from pathlib import Path

from PIL import Image

SIDE = 144
root = Path("www/samples")
path = root / "samples.json"
samples = json.load(open(path))
(root / "thumbs").mkdir(exist_ok=True)
for s in samples:
    if s.get("kind") == "fashion":
        continue
    im = Image.open(root / s["file"]).convert("RGB")
    crop = min(im.size)
    left, top = (im.width - crop) // 2, (im.height - crop) // 2
    thumb = im.crop((left, top, left + crop, top + crop)).resize((SIDE, SIDE), Image.LANCZOS)
    name = f"thumbs/{Path(s['file']).stem}.jpg"
    thumb.save(root / name, quality=82, optimize=True)
    s["thumb"] = name
with open(path, "w") as f:
    f.write("[\n" + ",\n".join("  " + json.dumps(s) for s in samples) + "\n]\n")
print(f"wrote {sum('thumb' in s for s in samples)} thumbnails")
