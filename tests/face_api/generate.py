"""Reference data for tests/face_api.rs: face-api's (TensorFlow.js) preprocessing and the
tiny face detector's raw output, computed with the reference implementation that ships with
the converted models.

Run from the repository root with the project's venv (numpy 2.x, Pillow 13.0.0,
onnxruntime 1.32.0):

    /work/venv/bin/python tests/face_api/generate.py

It imports `preprocess.py` from `../shared/models/face-api/scripts/` (face-api's
`NetInput.toBatchTensor` in numpy; its README reports it bit-identical to the tensors face-api
1.7.15 with tfjs 4.22.0's cpu backend builds) and writes to tests/data/face_api/:

- `noise.npy`: the input `noise`, uint8 37×53×3 of seeded random bytes (numpy
  default_rng(24)), and `noise_<case>.npy`, float32 H×W×3 pixel values (0..255):
  `resize_<w>x<h>` = `resize_bilinear_tfjs(noise, h, w)` (shrinking, growing, identity,
  1 pixel, mixed), `centred_<s>` / `bottomright_<s>` = `to_batch_tensor(noise, s, centre)`
  (pad to square with zeros, then resize).
- `astronaut_face_centred_112.npy`: `to_batch_tensor` of the face crop `Rect(150,30,110,120)`
  of assets/astronaut.png at 112, centred (what face-api's age/gender network sees).
- `grace_hopper_centred_112.npy`, `grace_hopper_bottomright_112.npy`: the whole
  assets/grace_hopper.jpg (512×600) padded and resized to 112.
- `grace_hopper_pil.png`: assets/grace_hopper.jpg as Pillow (libjpeg-turbo) decodes it, stored
  losslessly: JPEG decoders differ in the last bit of some pixels (ours is the `image` crate's),
  and face-api's JS reference (../shared/models/face-api/reference/) was run on Pillow's
  pixels, so the tests feed these to the detector.
- `tfjs_digests.json`: for inputs too large to store, the FNV-1a 64-bit hash of the float32
  little-endian bytes (C order) and the float64 sum of `to_batch_tensor(photo, 416,
  centre=False)` (the detector's 416×416 pixels) of both portraits, and the hash of the
  decoded RGB bytes of each portrait (so a decoder difference shows as such).
- `grid_<photo>.npy`: onnxruntime's output `grid` (float32 25×13×13) of
  ../shared/models/face-api/tiny_face_detector.onnx on
  `tiny_face_detector_input(photo)` (pad bottom/right, tfjs resize to 416,
  `(RGB − [117.001, 114.697, 97.404]) / 255`), for both portraits and `noise`.
"""

import json
import os
import sys

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "..", "shared", "models", "face-api")
sys.path.insert(0, os.path.join(SHARED, "scripts"))
import preprocess  # noqa: E402  (face-api's reference preprocessing)

OUT = os.path.join(ROOT, "tests", "data", "face_api")


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def rgb(name):
    return np.asarray(Image.open(os.path.join(ROOT, "assets", name)).convert("RGB"))


def save(name, array):
    np.save(os.path.join(OUT, f"{name}.npy"), array)


def main():
    os.makedirs(OUT, exist_ok=True)
    noise = np.random.default_rng(24).integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    save("noise", noise)
    for w, h in [(20, 11), (80, 61), (53, 37), (1, 1), (7, 90)]:
        save(f"noise_resize_{w}x{h}", preprocess.resize_bilinear_tfjs(noise, h, w))
    for s in [29]:
        save(f"noise_centred_{s}", preprocess.to_batch_tensor(noise, s, centre=True))
        save(f"noise_bottomright_{s}", preprocess.to_batch_tensor(noise, s, centre=False))
    # An odd padding difference (37 rows vs 52 columns: 15 rows) for the centred rounding.
    odd = noise[:, :52]
    save("noise_bottomright_112", preprocess.to_batch_tensor(noise, 112, centre=False))
    save("noise_odd_centred_40", preprocess.to_batch_tensor(odd, 40, centre=True))

    astronaut, hopper = rgb("astronaut.png"), rgb("grace_hopper.jpg")
    Image.fromarray(hopper, "RGB").save(os.path.join(OUT, "grace_hopper_pil.png"), optimize=True)
    face = preprocess.crop(astronaut, (150, 30, 110, 120))
    save("astronaut_face_centred_112", preprocess.to_batch_tensor(face, 112, centre=True))
    save("grace_hopper_centred_112", preprocess.to_batch_tensor(hopper, 112, centre=True))
    save("grace_hopper_bottomright_112", preprocess.to_batch_tensor(hopper, 112, centre=False))

    digests = {}
    for name, img in [("astronaut", astronaut), ("grace_hopper", hopper)]:
        x = preprocess.to_batch_tensor(img, 416, centre=False).astype("<f4")
        digests[name] = {
            "decoded_rgb_fnv1a64": fnv1a64(np.ascontiguousarray(img).tobytes()),
            "bottomright_416_fnv1a64": fnv1a64(np.ascontiguousarray(x).tobytes()),
            "bottomright_416_sum": float(x.astype(np.float64).sum()),
        }
    with open(os.path.join(OUT, "tfjs_digests.json"), "w") as f:
        json.dump(digests, f, indent=1, sort_keys=True)
        f.write("\n")

    import onnxruntime as ort

    session = ort.InferenceSession(
        os.path.join(SHARED, "tiny_face_detector.onnx"), providers=["CPUExecutionProvider"]
    )
    for name, img in [("astronaut", astronaut), ("grace_hopper", hopper), ("noise", noise)]:
        x = preprocess.tiny_face_detector_input(img).astype(np.float32)
        (grid,) = session.run(["grid"], {"input": x})
        save(f"grid_{name}", grid[0].astype(np.float32))
    print("onnxruntime", ort.__version__, "numpy", np.__version__)


if __name__ == "__main__":
    main()
