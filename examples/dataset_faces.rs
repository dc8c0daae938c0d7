//! Writes a folder of face crops for trying `lrp explain` on a dataset: `N` crops of the
//! shipped portraits, each face box shifted and scaled a little, PNG and JPEG alternating,
//! 100 per subfolder.
//!
//! ```text
//! cargo run --release --example dataset_faces -- /tmp/faces-2000 2000
//! lrp explain --image /tmp/faces-2000 --out /tmp/lrp-2000
//! ```

use lrp::assets::{ASTRONAUT_FACE, ASTRONAUT_PNG, GRACE_HOPPER_FACE, GRACE_HOPPER_JPG};
use lrp::preprocess::{crop, decode_rgb, FaceBox};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: dataset_faces DIR N");
    };
    let n: usize = n.parse()?;
    let portraits = [
        (decode_rgb(ASTRONAUT_PNG, "astronaut")?, ASTRONAUT_FACE),
        (
            decode_rgb(GRACE_HOPPER_JPG, "grace_hopper")?,
            GRACE_HOPPER_FACE,
        ),
    ];
    for i in 0..n {
        let (img, b) = &portraits[i % 2];
        // A deterministic jitter of ±12 pixels per edge.
        let j = |k: usize| ((i * 31 + k * 17) % 25) as i64 - 12;
        let face = FaceBox::new(b[0] + j(0), b[1] + j(1), b[2] + j(2), b[3] + j(3));
        let ext = if i % 3 == 2 { "jpg" } else { "png" };
        let path = std::path::Path::new(&dir)
            .join(format!("{:03}", i / 100))
            .join(format!("face{i:05}.{ext}"));
        std::fs::create_dir_all(path.parent().unwrap())?;
        crop(img, face)?.save(&path)?;
    }
    println!("{n} faces in {dir}");
    Ok(())
}
