"""Reference data for tests/preprocess.rs: Pillow's bilinear resize of small RGB images.

Run from the repository root with numpy and Pillow installed (the files were made with
Pillow 13.0.0, numpy 2.x):

    python tests/pil_resize_data.py

Writes tests/data/pil_resize/<name>.npy (uint8, H×W×3): the inputs `small` (17×23) and
`wide` (61×97) of seeded random bytes, and `<input>_<w>x<h>.npy` =
`Image.fromarray(input).resize((w, h), Image.BILINEAR)` for the sizes below (downscaling by
integer and fractional factors, upscaling, mixed, identity, 1 pixel; some with the vertical pass first, see resize_bilinear).

Also the Caffe-style input of `small` at size 15 (`caffe_small_15.npy`, float32 3×15×15)
against the synthetic mean image `caffe_mean.npy` (float32 3×20×21): longer side scaled to
15 with Pillow bilinear, shorter side padded to 15 by edge replication (image centred), BGR,
minus the centre 15×15 crop of the mean.

And torchvision's ImageNet evaluation transform (torchvision 0.29.2, on the PIL image:
`Resize(resize)`, `CenterCrop(size)`, `ToTensor()`, `Normalize(ImageNet mean, std)`) of
`wide` at size 32 (resize 37: the crop offset (37 − 32) / 2 = 2.5 rounds to even) and of
`small` at size 15 (resize 17), as `imagenet_<input>_<size>.npy` (float32 3×size×size).
Needs torchvision only for these; run with the venv that has it.
"""

import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pil_resize")
SIZES = {
    "small": [(7, 5), (11, 8), (40, 31), (10, 30), (23, 17), (1, 1), (3, 17), (46, 34), (20, 4)],
    "wide": [(13, 7), (32, 32), (64, 64), (96, 60), (5, 61), (200, 3), (90, 20)],
}


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20170901)
    inputs = {
        "small": rng.integers(0, 256, size=(17, 23, 3), dtype=np.uint8),
        "wide": rng.integers(0, 256, size=(61, 97, 3), dtype=np.uint8),
    }
    # Smooth gradients in one channel so that rounding is exercised on both noise and ramps.
    y, x = np.mgrid[0:61, 0:97]
    inputs["wide"][..., 1] = ((x * 255) // 96 + (y * 3)) % 256
    for name, array in inputs.items():
        np.save(os.path.join(OUT, f"{name}.npy"), array)
        image = Image.fromarray(array, "RGB")
        for w, h in SIZES[name]:
            out = np.asarray(image.resize((w, h), Image.BILINEAR), dtype=np.uint8)
            assert out.shape == (h, w, 3)
            np.save(os.path.join(OUT, f"{name}_{w}x{h}.npy"), out)

    size = 15
    mean = (np.arange(3 * 20 * 21, dtype=np.float32).reshape(3, 20, 21) * 0.37) % 255
    np.save(os.path.join(OUT, "caffe_mean.npy"), mean)
    h, w = inputs["small"].shape[:2]
    long = max(w, h)
    sw = size if w == long else max(1, min(size, int(np.floor(w * size / long + 0.5))))
    sh = size if h == long else max(1, min(size, int(np.floor(h * size / long + 0.5))))
    face = np.asarray(Image.fromarray(inputs["small"]).resize((sw, sh), Image.BILINEAR))
    top, left = (size - sh) // 2, (size - sw) // 2
    square = np.pad(face, ((top, size - sh - top), (left, size - sw - left), (0, 0)), mode="edge")
    bgr = square[..., ::-1].transpose(2, 0, 1).astype(np.float32)
    oy, ox = (mean.shape[1] - size) // 2, (mean.shape[2] - size) // 2
    np.save(os.path.join(OUT, "caffe_small_15.npy"), bgr - mean[:, oy:oy + size, ox:ox + size])

    from torchvision import transforms

    for name, size in [("wide", 32), ("small", 15)]:
        resize = round(size * 256 / 224)
        t = transforms.Compose([
            transforms.Resize(resize),
            transforms.CenterCrop(size),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ])
        x = t(Image.fromarray(inputs[name], "RGB")).numpy().astype(np.float32)
        assert x.shape == (3, size, size)
        np.save(os.path.join(OUT, f"imagenet_{name}_{size}.npy"), x)


if __name__ == "__main__":
    main()
