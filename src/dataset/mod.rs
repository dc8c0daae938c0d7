//! Whole datasets: finding the images of a folder tree, splitting them into shards for job
//! arrays, naming outputs so that they cannot collide, writing files atomically, and the
//! `manifest.jsonl` that records every result (and lets a rerun resume).
//!
//! The `lrp explain` command line is built on this module; the pieces are public so that other
//! front ends (Python bindings, batch jobs of one's own) lay out their outputs the same way.
//!
//! ```text
//! --image faces/ ──discover──▶ [InputFile { relative: "sub/face.jpg", .. }, ..]   sorted, deterministic
//!                ──Shard "2/3"──▶ the inputs whose stable hash falls in shard 2 of 3
//!                ──OutputLayout──▶ out/<model>/<preset>/sub/face.jpg.png            (mirrors the tree)
//!                ──write_atomic──▶ out/<model>/<preset>/sub/.face.jpg.png.partial → renamed when complete
//!                ──ManifestWriter──▶ out/manifest.jsonl, one JSON line per image × model × preset
//! ```
//!
//! ```
//! use lrp::dataset::{discover, OutputLayout, Shard};
//! let assets = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/assets"));
//! let files = discover(&[assets], &[]).unwrap();
//! let names: Vec<&str> = files.iter().map(|f| f.relative.as_str()).collect();
//! assert!(names.contains(&"astronaut.png") && names.contains(&"grace_hopper.jpg"));
//! // Every file falls in exactly one of three shards.
//! let shards: Vec<Shard> = (1..=3).map(|k| Shard::new(k, 3).unwrap()).collect();
//! for f in &files {
//!     assert_eq!(shards.iter().filter(|s| s.contains(&f.relative)).count(), 1);
//! }
//! let layout = OutputLayout::new("lrp-out");
//! assert_eq!(
//!     layout.relative_output("gender-v1", "paper", "sub/face.jpg", ".png"),
//!     "gender-v1/paper/sub/face.jpg.png"
//! );
//! ```

mod discover;
mod layout;
pub mod manifest;
mod shard;

pub use discover::{discover, InputFile};
pub use layout::{distinct_names, partial_path, write_atomic, OutputLayout};
pub use manifest::{Entry, FaceRecord, ManifestWriter, Status};
pub use shard::{stable_hash, Shard};
