//! BVLC reference CaffeNet (AlexNet with pooling before normalisation), as in the paper's
//! `*_caffereference.prototxt`: conv1 96 11×11/4, conv2 256 5×5 pad 2 in 2 groups, conv3 384
//! 3×3 pad 1, conv4 384 3×3 pad 1 in 2 groups, conv5 256 3×3 pad 1 in 2 groups, fc6 4096,
//! fc7 4096, fc8 `classes`. With 1000 classes: 60,965,224 parameters.

use super::{check_classes, Architecture, NetBuilder};
use crate::error::Result;
use crate::graph::Graph;
use crate::ops::Op;

pub(super) fn caffenet(classes: usize, seed: u64) -> Result<Graph> {
    check_classes(classes)?;
    let mut n = NetBuilder::new("data", Architecture::CaffeNet.input_shape(), seed);
    let x = n.conv_relu("conv1", "relu1", "data", 96, 11, 4, 0, 1)?;
    let x = n.pool("pool1", &x, true, 3, 2, 0)?;
    let x = n.lrn("norm1", &x)?;
    let x = n.conv_relu("conv2", "relu2", &x, 256, 5, 1, 2, 2)?;
    let x = n.pool("pool2", &x, true, 3, 2, 0)?;
    let x = n.lrn("norm2", &x)?;
    let x = n.conv_relu("conv3", "relu3", &x, 384, 3, 1, 1, 1)?;
    let x = n.conv_relu("conv4", "relu4", &x, 384, 3, 1, 1, 2)?;
    let x = n.conv_relu("conv5", "relu5", &x, 256, 3, 1, 1, 2)?;
    let x = n.pool("pool5", &x, true, 3, 2, 0)?;
    let x = n.dense("fc6", &x, 4096)?;
    let x = n.add("relu6", Op::Relu, &[&x])?;
    let x = n.add("drop6", Op::Dropout, &[&x])?;
    let x = n.dense("fc7", &x, 4096)?;
    let x = n.add("relu7", Op::Relu, &[&x])?;
    let x = n.add("drop7", Op::Dropout, &[&x])?;
    let x = n.dense("fc8", &x, classes)?;
    n.finish(&x, &[])
}
