//! The paper's architectures built in code, with seeded random weights.

pub mod rng;
