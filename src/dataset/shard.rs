//! `--shard K/N`: a deterministic 1/N of the inputs, for the N jobs of a job array.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (1-based, `1 ≤ index ≤ count`): the inputs whose
/// [`stable_hash`] of the relative name is `index − 1` modulo `count`.
///
/// The split depends on each input's relative name only, not on the other inputs, so the
/// shards of one dataset are disjoint and together hold every input, on any machine and in
/// any order; adding files to the dataset moves no file to another shard.
///
/// ```
/// use lrp::dataset::Shard;
/// let s: Shard = "2/3".parse().unwrap();
/// assert_eq!((s.index(), s.count()), (2, 3));
/// assert_eq!(s.tag(), "2-of-3");
/// assert!("0/3".parse::<Shard>().is_err() && "4/3".parse::<Shard>().is_err());
/// let names = ["a.png", "b.png", "c/d.jpg", "e.png"];
/// let total: usize = (1..=3)
///     .map(|k| names.iter().filter(|n| Shard::new(k, 3).unwrap().contains(n)).count())
///     .sum();
/// assert_eq!(total, names.len());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Shard `index` of `count`.
    ///
    /// Errors: [`Error::Invalid`] unless `1 ≤ index ≤ count`.
    pub fn new(index: u32, count: u32) -> Result<Shard> {
        if index == 0 || index > count {
            return Err(Error::Invalid(format!(
                "shard {index}/{count}: expected K/N with 1 ≤ K ≤ N"
            )));
        }
        Ok(Shard { index, count })
    }

    /// The 1-based shard number `K`.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The number of shards `N`.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether the input called `relative` belongs to this shard.
    pub fn contains(&self, relative: &str) -> bool {
        stable_hash(relative) % u64::from(self.count) == u64::from(self.index - 1)
    }

    /// `K-of-N`, for file names (`manifest.2-of-3.jsonl`).
    pub fn tag(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// Parses `K/N`.
    fn from_str(s: &str) -> Result<Shard> {
        let bad = || {
            Error::Invalid(format!(
                "shard `{}`: expected K/N with 1 ≤ K ≤ N, e.g. 2/8",
                crate::error::one_line(s)
                    .chars()
                    .take(40)
                    .collect::<String>()
            ))
        };
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let k: u32 = k.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        Shard::new(k, n).map_err(|_| bad())
    }
}

/// A 64-bit hash of `text` that is the same on every machine, build and run: FNV-1a over its
/// UTF-8 bytes, then the SplitMix64 finaliser so that names differing only in their last
/// characters (`face0001.png`, `face0002.png`) spread evenly over the shards.
///
/// ```
/// assert_eq!(lrp::dataset::stable_hash("face.png"), lrp::dataset::stable_hash("face.png"));
/// assert_ne!(lrp::dataset::stable_hash("face.png"), lrp::dataset::stable_hash("face.jpg"));
/// ```
pub fn stable_hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_balanced_and_disjoint() {
        let names: Vec<String> = (0..3000).map(|i| format!("faces/face{i:05}.png")).collect();
        let shards: Vec<Shard> = (1..=3).map(|k| Shard::new(k, 3).unwrap()).collect();
        let mut counts = [0usize; 3];
        for n in &names {
            let owners: Vec<usize> = (0..3).filter(|&i| shards[i].contains(n)).collect();
            assert_eq!(owners.len(), 1, "{n}");
            counts[owners[0]] += 1;
        }
        for c in counts {
            assert!((900..1100).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn the_hash_is_pinned() {
        // Shards must not move between releases: the hash of a name is part of the format.
        // (Values from an independent Python implementation of the same steps.)
        assert_eq!(stable_hash("face.png"), 0x1bec_df05_0069_4194);
        assert_eq!(stable_hash("sub/face.jpg"), 0x34d1_4259_0639_687f);
    }

    #[test]
    fn bad_specs_are_refused() {
        for s in ["", "1", "0/2", "3/2", "a/b", "1/0", "-1/2"] {
            assert!(s.parse::<Shard>().is_err(), "{s}");
        }
        assert_eq!("1/1".parse::<Shard>().unwrap().to_string(), "1/1");
    }
}
