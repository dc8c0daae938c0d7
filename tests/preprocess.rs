//! Image preprocessing: decoding, face crops, Pillow-exact bilinear resizing, the ONNX and Caffe
//! input pipelines, folder listing, and the errors for bad input.
//!
//! NOTE: `astronaut_inputs_match_the_reference` reads test data outside the repository, from
//! `../shared/reference/` (relative to `CARGO_MANIFEST_DIR`): the network inputs that the
//! reference outputs were computed from (`../shared/reference/README.md`, `manifest.json`:
//! face box (150, 30, 260, 150) of `astronaut.png`, Pillow bilinear to 32×32 and 64×64,
//! `(RGB − mean) / 256`). Everything else uses `assets/` and `tests/data/pil_resize/`, made by
//! `tests/pil_resize_data.py` with Pillow.

use lrp::preprocess::{
    crop, decode_rgb, decode_rgb_with, image_files, load_face, load_rgb, resize_bilinear,
    to_tensor, FaceBox, LoadLimits, Preprocess, Rgb, RgbImage, ONNX_FACE_MEAN,
};
use lrp::{Error, Tensor};
use ndarray::{Array3, ArrayD};
use ndarray_npy::read_npy;
use std::path::{Path, PathBuf};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn pil_data(name: &str) -> PathBuf {
    repo("tests/data/pil_resize").join(format!("{name}.npy"))
}

/// An H×W×3 `u8` array as an image.
fn image_from_hwc(array: &ArrayD<u8>) -> RgbImage {
    let (h, w) = (array.shape()[0] as u32, array.shape()[1] as u32);
    let data: Vec<u8> = array.iter().copied().collect();
    RgbImage::from_raw(w, h, data).expect("H×W×3 array")
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A scratch directory unique to this test process and `name`, removed first if present.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lrp-preprocess-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn astronaut_inputs_match_the_reference() {
    let face = load_face(
        repo("assets/astronaut.png"),
        Some(FaceBox::new(150, 30, 260, 150)),
    )
    .unwrap();
    assert_eq!(face.dimensions(), (110, 120));
    for (size, model) in [(32, "gender"), (64, "age")] {
        let got = to_tensor(std::slice::from_ref(&face), &Preprocess::onnx_face(size)).unwrap();
        let reference: ArrayD<f32> =
            read_npy(repo("../shared/reference").join(format!("astronaut_{model}_input.npy")))
                .unwrap();
        let diff = max_abs_diff(&got, &reference);
        println!("astronaut {model} {size}×{size}: max |ours − reference| = {diff:e}");
        assert!(diff <= 1e-5, "{model}: max difference {diff}");
    }
}

#[test]
fn resize_matches_pillow_bilinear_bit_for_bit() {
    let cases: [(&str, &[(u32, u32)]); 2] = [
        (
            "small",
            &[
                (7, 5),
                (11, 8),
                (40, 31),
                (10, 30),
                (23, 17),
                (1, 1),
                (3, 17),
                (46, 34),
                (20, 4),
            ],
        ),
        (
            "wide",
            &[
                (13, 7),
                (32, 32),
                (64, 64),
                (96, 60),
                (5, 61),
                (200, 3),
                (90, 20),
            ],
        ),
    ];
    for (input, sizes) in cases {
        let source = image_from_hwc(&read_npy(pil_data(input)).unwrap());
        for &(w, h) in sizes {
            let want = image_from_hwc(&read_npy(pil_data(&format!("{input}_{w}x{h}"))).unwrap());
            let got = resize_bilinear(&source, w, h).unwrap();
            let differing = got
                .as_raw()
                .iter()
                .zip(want.as_raw())
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(differing, 0, "{input} → {w}×{h}: {differing} bytes differ");
        }
    }
}

#[test]
fn caffe_input_matches_the_pillow_reference() {
    let face = image_from_hwc(&read_npy(pil_data("small")).unwrap());
    let mean: Array3<f32> = read_npy(pil_data("caffe_mean")).unwrap();
    let want: ArrayD<f32> = read_npy(pil_data("caffe_small_15")).unwrap();
    let got = Preprocess::CaffeMean { size: 15, mean }
        .apply(&face)
        .unwrap();
    let diff = max_abs_diff(&got.into_dyn(), &want);
    assert!(diff <= 1e-4, "max difference {diff}");
}

#[test]
fn imagenet_input_matches_torchvisions_transform() {
    // Reference: torchvision 0.29.2 Resize(round(size·256/224)) → CenterCrop(size) →
    // ToTensor → Normalize(ImageNet) on the same PIL images (tests/pil_resize_data.py). The
    // resize is Pillow's to the bit, so only float rounding of the normalisation differs.
    for (name, size) in [("wide", 32), ("small", 15)] {
        let face = image_from_hwc(&read_npy(pil_data(name)).unwrap());
        let want: ArrayD<f32> = read_npy(pil_data(&format!("imagenet_{name}_{size}"))).unwrap();
        let got = Preprocess::imagenet(size).apply(&face).unwrap();
        let diff = max_abs_diff(&got.into_dyn(), &want);
        assert!(diff <= 1e-5, "{name}: max difference {diff}");
    }
    let bad = Preprocess::ImageNet {
        size: 224,
        resize: 200,
    };
    assert!(bad.apply(&RgbImage::new(300, 300)).is_err());
}

#[test]
fn caffe_mean_path_on_a_synthetic_mean() {
    // Mean value encodes its position: channel·10000 + row·100 + column.
    let mean = Array3::from_shape_fn((3, 8, 9), |(c, y, x)| (c * 10000 + y * 100 + x) as f32);
    let p = Preprocess::CaffeMean { size: 4, mean };
    // A 2-wide, 4-high face: left column red-ish, right column blue-ish. The longer side is
    // already 4, so it is not resized; one edge column is repeated on each side.
    let face = RgbImage::from_fn(2, 4, |x, _| {
        if x == 0 {
            Rgb([200, 10, 20])
        } else {
            Rgb([30, 40, 250])
        }
    });
    let x = p.apply(&face).unwrap();
    assert_eq!(x.shape(), &[3, 4, 4]);
    // The centre 4×4 crop of an 8×9 mean starts at row (8 − 4) / 2 = 2, column (9 − 4) / 2 = 2.
    let mean_at = |c: usize, y: usize, x: usize| (c * 10000 + (y + 2) * 100 + (x + 2)) as f32;
    for y in 0..4 {
        for col in 0..4 {
            let rgb = if col < 2 {
                [200.0, 10.0, 20.0]
            } else {
                [30.0, 40.0, 250.0]
            };
            // BGR order: channel 0 is blue.
            for c in 0..3 {
                let want = rgb[2 - c] - mean_at(c, y, col);
                assert_eq!(x[[c, y, col]], want, "c{c} y{y} x{col}");
            }
        }
    }
    // What the network sees, at the face's resolution: the face padded to 4×4 the same way.
    let shown = p.display_image(&face);
    assert_eq!(shown.dimensions(), (4, 4));
    assert_eq!(shown.get_pixel(0, 1), &Rgb([200, 10, 20]));
    assert_eq!(shown.get_pixel(3, 1), &Rgb([30, 40, 250]));

    // A landscape face is scaled so its longer side fills the input: 20×10 → 4×2, padded
    // with one repeated row above and below.
    let flat = Preprocess::CaffeMean {
        size: 4,
        mean: Array3::zeros((3, 4, 4)),
    };
    let face = RgbImage::from_fn(20, 10, |x, y| {
        Rgb([x as u8, 0, if y < 5 { 10 } else { 90 }])
    });
    let x = flat.apply(&face).unwrap();
    let small = resize_bilinear(&face, 4, 2).unwrap();
    for col in 0..4u32 {
        let column: Vec<f32> = (0..4).map(|y| x[[0, y, col as usize]]).collect();
        let (top, bottom) = (small.get_pixel(col, 0)[2], small.get_pixel(col, 1)[2]);
        assert_eq!(column, [top, top, bottom, bottom].map(f32::from));
        assert_eq!(
            x[[2, 0, col as usize]],
            f32::from(small.get_pixel(col, 0)[0])
        );
    }

    // Mean images must be 3 channels and at least as large as the input.
    for bad in [Array3::zeros((3, 3, 9)), Array3::zeros((1, 8, 8))] {
        let p = Preprocess::CaffeMean { size: 4, mean: bad };
        assert!(matches!(p.apply(&face), Err(Error::Preprocess(_))));
    }
}

#[test]
fn generic_configurations() {
    let face = image_from_hwc(&read_npy(pil_data("wide")).unwrap());
    let onnx = to_tensor(std::slice::from_ref(&face), &Preprocess::onnx_face(32)).unwrap();
    let same = Preprocess::Generic {
        size: 32,
        mean: ONNX_FACE_MEAN,
        std: [256.0; 3],
        bgr: false,
        scale: 1.0,
    };
    assert_eq!(to_tensor(std::slice::from_ref(&face), &same).unwrap(), onnx);

    let bgr = Preprocess::Generic {
        size: 8,
        mean: [1.0, 2.0, 3.0],
        std: [2.0, 4.0, 8.0],
        bgr: true,
        scale: 0.5,
    };
    let x = bgr
        .apply(&RgbImage::from_pixel(3, 5, Rgb([10, 20, 40])))
        .unwrap();
    // Output channel 0 is blue: (0.5·40 − 1) / 2; channel 2 is red: (0.5·10 − 3) / 8.
    assert_eq!(x[[0, 4, 4]], (20.0 - 1.0) / 2.0);
    assert_eq!(x[[1, 0, 7]], (10.0 - 2.0) / 4.0);
    assert_eq!(x[[2, 7, 0]], (5.0 - 3.0) / 8.0);

    let zero_std = Preprocess::Generic {
        size: 8,
        mean: [0.0; 3],
        std: [1.0, 0.0, 1.0],
        bgr: false,
        scale: 1.0,
    };
    assert!(matches!(zero_std.validate(), Err(Error::Preprocess(_))));
    assert!(matches!(
        Preprocess::onnx_face(0).apply(&face),
        Err(Error::Preprocess(_))
    ));
}

#[test]
fn batches_stack_faces_of_different_sizes() {
    let a = RgbImage::from_pixel(10, 30, Rgb([255, 0, 0]));
    let b = RgbImage::from_pixel(41, 7, Rgb([0, 255, 0]));
    let p = Preprocess::onnx_face(16);
    let x = to_tensor(&[a.clone(), b.clone()], &p).unwrap();
    assert_eq!(x.shape(), &[2, 3, 16, 16]);
    let one = |img: &RgbImage| p.apply(img).unwrap().into_dyn();
    assert_eq!(x.index_axis(ndarray::Axis(0), 0), one(&a));
    assert_eq!(x.index_axis(ndarray::Axis(0), 1), one(&b));
    assert!(matches!(to_tensor(&[], &p), Err(Error::Preprocess(_))));
}

#[test]
fn decodes_png_and_jpeg() {
    let png = load_rgb(repo("assets/astronaut.png")).unwrap();
    assert_eq!(png.dimensions(), (512, 512));
    let jpg = load_rgb(repo("assets/grace_hopper.jpg")).unwrap();
    assert_eq!(jpg.dimensions(), (512, 600));
    // Whole-image crop is the image.
    assert_eq!(crop(&png, FaceBox::full(&png)).unwrap(), png);
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    match load_rgb("does/not/exist.png") {
        Err(Error::Io { file, source }) => {
            assert_eq!(file, "does/not/exist.png");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Error::Io, got {other:?}"),
    }
}

#[test]
fn garbage_and_truncated_files_are_image_errors() {
    let dir = scratch_dir("garbage");
    let junk = dir.join("junk.png");
    std::fs::write(&junk, b"\x00\x01definitely not an image\xff").unwrap();
    match load_rgb(&junk) {
        Err(Error::Image { file, detail }) => {
            assert_eq!(file, junk.display().to_string());
            assert!(detail.contains("PNG or JPEG"), "{detail}");
        }
        other => panic!("expected Error::Image, got {other:?}"),
    }
    let png = std::fs::read(repo("assets/astronaut.png")).unwrap();
    let err = decode_rgb(&png[..png.len() / 2], "half.png").unwrap_err();
    assert!(
        matches!(&err, Error::Image { file, .. } if file == "half.png"),
        "{err:?}"
    );
    let jpg = std::fs::read(repo("assets/grace_hopper.jpg")).unwrap();
    let err = decode_rgb(&jpg[..200], "cut.jpg").unwrap_err();
    assert!(matches!(&err, Error::Image { .. }), "{err:?}");
    // A GIF signature is recognised but not supported.
    let err = decode_rgb(b"GIF89a\x01\x00\x01\x00\x00\x00\x00", "x.gif").unwrap_err();
    assert!(err.to_string().contains("not supported"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// CRC-32 (IEEE) as PNG chunks use it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A PNG of a few dozen bytes whose header claims `width`×`height` RGB pixels.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, no filter, no interlace
    png_chunk(&mut png, b"IHDR", &ihdr);
    // An empty zlib stream: the data ends long before the declared pixels.
    png_chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    png_chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn huge_declared_dimensions_are_refused_before_decoding() {
    let bytes = png_claiming(100_000, 100_000);
    match decode_rgb(&bytes, "huge.png") {
        Err(Error::ImageTooLarge {
            file,
            width,
            height,
            max_side,
            ..
        }) => {
            assert_eq!(
                (file.as_str(), width, height),
                ("huge.png", 100_000, 100_000)
            );
            assert_eq!(max_side, LoadLimits::default().max_side);
        }
        other => panic!("expected Error::ImageTooLarge, got {other:?}"),
    }
    // Within the side limit but over the pixel limit.
    let limits = LoadLimits {
        max_side: 16384,
        max_pixels: 1 << 20,
    };
    assert!(matches!(
        decode_rgb_with(&png_claiming(2000, 1000), "big.png", &limits),
        Err(Error::ImageTooLarge {
            width: 2000,
            height: 1000,
            ..
        })
    ));
    // The same path through a file.
    let dir = scratch_dir("huge");
    let path = dir.join("huge.png");
    std::fs::write(&path, &bytes).unwrap();
    let err = load_rgb(&path).unwrap_err();
    assert!(matches!(err, Error::ImageTooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("100000×100000"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
    // A small image with a truncated data stream passes the limits and fails to decode.
    assert!(matches!(
        decode_rgb(&png_claiming(4, 4), "tiny.png"),
        Err(Error::Image { .. })
    ));
}

#[test]
fn face_boxes_are_clamped_or_refused() {
    let image = RgbImage::from_fn(50, 40, |x, y| Rgb([x as u8, y as u8, 0]));
    // Partly outside: clamped to the image.
    let face = crop(&image, FaceBox::new(-5, 30, 20, 100)).unwrap();
    assert_eq!(face.dimensions(), (20, 10));
    assert_eq!(face.get_pixel(0, 0), &Rgb([0, 30, 0]));
    for (b, what) in [
        (FaceBox::new(10, 10, 10, 20), "empty"),
        (FaceBox::new(30, 10, 20, 20), "empty"),
        (FaceBox::new(10, 25, 20, 5), "empty"),
        (FaceBox::new(60, 0, 80, 10), "outside"),
        (FaceBox::new(-20, -20, 0, 0), "outside"),
    ] {
        match crop(&image, b) {
            Err(Error::FaceBox {
                width: 50,
                height: 40,
                detail,
                ..
            }) => assert!(detail.contains(what), "{b:?}: {detail}"),
            other => panic!("{b:?}: expected Error::FaceBox, got {other:?}"),
        }
    }
    // Through a file, the error names it.
    let path = repo("assets/astronaut.png");
    let err = load_face(&path, Some(FaceBox::new(600, 0, 700, 100))).unwrap_err();
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn image_files_expands_folders_sorted_and_case_insensitive() {
    let dir = scratch_dir("listing");
    for name in ["b.PNG", "a.jpeg", "c.Jpg", "notes.txt", "d.gif", "noext"] {
        std::fs::write(dir.join(name), b"x").unwrap();
    }
    std::fs::create_dir(dir.join("sub.png")).unwrap(); // a folder with an image-like name
    std::fs::write(dir.join("sub.png").join("inner.png"), b"x").unwrap();
    let explicit = dir.join("notes.txt");
    let files = image_files(&[explicit.clone(), dir.clone()]).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // An explicitly named file is kept whatever its extension; the folder is not recursed.
    assert_eq!(names, ["notes.txt", "a.jpeg", "b.PNG", "c.Jpg"]);
    assert_eq!(files[0], explicit);

    let missing = dir.join("missing");
    match image_files(&[dir.clone(), missing.clone()]) {
        Err(Error::Io { file, source }) => {
            assert_eq!(file, missing.display().to_string());
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Error::Io, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
