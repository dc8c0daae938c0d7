#!/usr/bin/env python3
"""Reference logits from OpenCV's Caffe importer for tests/caffe_opencv.rs.

For one deploy prototxt of each of the paper's architectures, this script

1. writes a caffemodel with seeded random weights using OUR writer
   (`cargo run --release --example write_random_caffemodel -- NET SEED OUT`) into a
   temporary directory (the files are large and never committed),
2. loads prototxt + caffemodel with `cv2.dnn.readNetFromCaffe` (opencv-python-headless 4.x;
   OpenCV 5 dropped the Caffe importer), an implementation independent of ours,
3. feeds the input x[i] = float32(sin(0.001 * i) * 100) for the flat index i of the
   1x3xSxS blob (computed in float64, then rounded to float32; Rust regenerates it exactly),
4. writes the output of the main classifier's InnerProduct layer (the pre-softmax logits)
   to tests/data/opencv/<prototxt stem>.json.

Run from the repository root with the project's Python environment:

    /work/pyenv/bin/python tests/opencv/make_reference.py

The paper's prototxts are read from ../shared/caffe/paper (outside the repository).
"""

import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAPER = os.path.join(ROOT, "..", "shared", "caffe", "paper")
OUT = os.path.join(ROOT, "tests", "data", "opencv")

# (prototxt stem, seed, input side, logits layer)
CASES = [
    ("gender_net_definitions", 2017, 227, "fc8"),
    ("gender_finetuning_caffereference", 2018, 227, "fc8_agexgender"),
    ("gender_finetuning_googlenet", 2019, 224, "loss3/classifier_agexgender"),
    ("gender_finetuning_vgg16", 2020, 224, "fc8-gender"),
]


def model_input(side):
    n = 3 * side * side
    i = np.arange(n, dtype=np.float64)
    return (np.sin(0.001 * i) * 100.0).astype(np.float32).reshape(1, 3, side, side)


def main():
    os.makedirs(OUT, exist_ok=True)
    subprocess.run(
        ["cargo", "build", "--release", "--example", "write_random_caffemodel"],
        cwd=ROOT,
        check=True,
    )
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    writer = os.path.join(target, "release", "examples", "write_random_caffemodel")
    with tempfile.TemporaryDirectory() as tmp:
        for stem, seed, side, layer in CASES:
            prototxt = os.path.join(PAPER, stem + ".prototxt")
            model = os.path.join(tmp, stem + ".caffemodel")
            subprocess.run([writer, prototxt, str(seed), model], check=True)
            net = cv2.dnn.readNetFromCaffe(prototxt, model)
            net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
            net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
            net.setInput(model_input(side))
            logits = net.forward(layer).reshape(-1)
            os.remove(model)
            record = {
                "prototxt": stem + ".prototxt",
                "seed": seed,
                "input": "x[i] = float32(sin(0.001 * i) * 100), i = flat index of 1x3x%dx%d"
                % (side, side),
                "layer": layer,
                "opencv": cv2.__version__,
                "numpy": np.__version__,
                "logits": [float(v) for v in logits],
            }
            path = os.path.join(OUT, stem + ".json")
            with open(path, "w") as f:
                json.dump(record, f, indent=1)
                f.write("\n")
            print(stem, logits, file=sys.stderr)


if __name__ == "__main__":
    main()
