#!/usr/bin/env python3
"""Writes N augmented face crops of the shipped portraits (assets/astronaut.png,
assets/grace_hopper.jpg) into a folder: the reference set for timing `lrp concepts`'
relevance maximisation at dataset scale (the README's and the issue note's 1,000-image run).

    /work/venv/bin/python benches/concepts/augment.py /tmp/crp-1000 --count 1000
    /usr/bin/time -v target/release/lrp concepts --model age-v1 --layer layer_20_conv \
        --image assets/astronaut.png --reference-image /tmp/crp-1000 --out /tmp/crp-out

Each image: a random square crop around the face box of `lrp compare`'s portraits (side 0.8 to
1.3 of the box, centre moved by up to 15 % of it), a horizontal flip with probability 1/2,
brightness ×0.7 to ×1.3, resized to 128×128, saved as PNG. Seeded (numpy default_rng(seed)),
so the folder is the same on every machine. Needs numpy and Pillow.
"""

import argparse
import os

import numpy as np
from PIL import Image, ImageEnhance

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The face boxes (left, top, right, bottom) of the shipped portraits (src/assets.rs).
PORTRAITS = {
    "astronaut.png": (150, 30, 260, 150),
    "grace_hopper.jpg": (155, 110, 365, 330),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    images = {n: Image.open(os.path.join(ROOT, "assets", n)).convert("RGB") for n in PORTRAITS}
    names = sorted(PORTRAITS)
    for i in range(args.count):
        name = names[i % len(names)]
        img = images[name]
        l, t, r, b = PORTRAITS[name]
        side = max(r - l, b - t) * rng.uniform(0.8, 1.3)
        cx = (l + r) / 2 + rng.uniform(-0.15, 0.15) * (r - l)
        cy = (t + b) / 2 + rng.uniform(-0.15, 0.15) * (b - t)
        box = [int(round(v)) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)]
        crop = img.crop(box).resize((128, 128), Image.BILINEAR)
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        crop = ImageEnhance.Brightness(crop).enhance(rng.uniform(0.7, 1.3))
        crop.save(os.path.join(args.out, f"{os.path.splitext(name)[0]}-{i:04d}.png"))
    print(f"{args.count} images in {args.out}")


if __name__ == "__main__":
    main()
