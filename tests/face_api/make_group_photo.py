"""Makes assets/group_photo.jpg: a COLLAGE (not a real group photo) of the two shipped
public-domain portraits, for `lrp explain --image assets/group_photo.jpg` and the face
detection tests. No public-domain photo of several people was found in the packages at hand,
so the portraits are tiled 2×2 at 384×384 each (grace_hopper.jpg's centre square): astronaut,
Grace Hopper, and both mirrored (four faces, two people).

Run from the repository root (Pillow 13.0.0):

    /work/venv/bin/python tests/face_api/make_group_photo.py
"""

import os

from PIL import Image, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    astronaut = Image.open(os.path.join(ROOT, "assets", "astronaut.png")).convert("RGB")
    hopper = Image.open(os.path.join(ROOT, "assets", "grace_hopper.jpg")).convert("RGB")
    hopper = hopper.crop((0, 44, 512, 556))  # the centre 512×512
    tiles = [astronaut, hopper, ImageOps.mirror(hopper), ImageOps.mirror(astronaut)]
    canvas = Image.new("RGB", (768, 768))
    for i, tile in enumerate(tiles):
        canvas.paste(tile.resize((384, 384), Image.BILINEAR), (384 * (i % 2), 384 * (i // 2)))
    canvas.save(os.path.join(ROOT, "assets", "group_photo.jpg"), quality=85, optimize=True)


if __name__ == "__main__":
    main()
