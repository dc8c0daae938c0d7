//! AdienceNet (Levi & Hassner, "Age and Gender Classification using Convolutional Neural
//! Networks", CVPR-W 2015), as in the paper's `*_net_definitions.prototxt`:
//! conv 96 7×7/4 → ReLU → max 3/2 → LRN, conv 256 5×5 pad 2 → ReLU → max 3/2 → LRN,
//! conv 384 3×3 pad 1 → ReLU → max 3/2, fc 512 → ReLU → dropout, fc 512 → ReLU → dropout,
//! fc `classes`.

use super::{check_classes, Architecture, NetBuilder};
use crate::error::Result;
use crate::graph::Graph;
use crate::ops::Op;

pub(super) fn adiencenet(classes: usize, seed: u64) -> Result<Graph> {
    check_classes(classes)?;
    let mut n = NetBuilder::new("data", Architecture::AdienceNet.input_shape(), seed);
    let x = n.conv_relu("conv1", "relu1", "data", 96, 7, 4, 0, 1)?;
    let x = n.pool("pool1", &x, true, 3, 2, 0)?;
    let x = n.lrn("norm1", &x)?;
    let x = n.conv_relu("conv2", "relu2", &x, 256, 5, 1, 2, 1)?;
    let x = n.pool("pool2", &x, true, 3, 2, 0)?;
    let x = n.lrn("norm2", &x)?;
    let x = n.conv_relu("conv3", "relu3", &x, 384, 3, 1, 1, 1)?;
    let x = n.pool("pool5", &x, true, 3, 2, 0)?;
    let x = n.dense("fc6", &x, 512)?;
    let x = n.add("relu6", Op::Relu, &[&x])?;
    let x = n.add("drop6", Op::Dropout, &[&x])?;
    let x = n.dense("fc7", &x, 512)?;
    let x = n.add("relu7", Op::Relu, &[&x])?;
    let x = n.add("drop7", Op::Dropout, &[&x])?;
    let x = n.dense("fc8", &x, classes)?;
    n.finish(&x, &[])
}
