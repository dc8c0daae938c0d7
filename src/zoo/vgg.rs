//! VGG-16 (Simonyan & Zisserman, configuration D), as in the paper's `*_vgg16.prototxt`:
//! thirteen 3×3 pad 1 convolutions in five blocks (64, 128, 256, 512, 512 channels), each
//! block closed by max 2/2, then fc6 4096, fc7 4096, fc8 `classes`. With 1000 classes:
//! 138,357,544 parameters.

use super::{check_classes, Architecture, NetBuilder};
use crate::error::Result;
use crate::graph::Graph;
use crate::ops::Op;

pub(super) fn vgg16(classes: usize, seed: u64) -> Result<Graph> {
    check_classes(classes)?;
    let mut n = NetBuilder::new("data", Architecture::Vgg16.input_shape(), seed);
    let blocks: [(usize, usize); 5] = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)];
    let mut x = "data".to_string();
    for (b, &(channels, convs)) in blocks.iter().enumerate() {
        for c in 1..=convs {
            let name = format!("conv{}_{}", b + 1, c);
            let relu = format!("relu{}_{}", b + 1, c);
            x = n.conv_relu(&name, &relu, &x, channels, 3, 1, 1, 1)?;
        }
        x = n.pool(&format!("pool{}", b + 1), &x, true, 2, 2, 0)?;
    }
    let x = n.dense("fc6", &x, 4096)?;
    let x = n.add("relu6", Op::Relu, &[&x])?;
    let x = n.add("drop6", Op::Dropout, &[&x])?;
    let x = n.dense("fc7", &x, 4096)?;
    let x = n.add("relu7", Op::Relu, &[&x])?;
    let x = n.add("drop7", Op::Dropout, &[&x])?;
    let x = n.dense("fc8", &x, classes)?;
    n.finish(&x, &[])
}
