//! BVLC GoogLeNet (Inception v1, Szegedy et al., "Going deeper with convolutions", 2015), as
//! in the paper's `*_googlenet.prototxt`, with layer names of the BVLC model. Nine inception
//! modules (1×1, 3×3 after a 1×1 reduction, 5×5 after a 1×1 reduction, 3×3/1 max pooling
//! followed by a 1×1 projection, concatenated on channels), average pooling 7×7, dropout,
//! classifier. The two auxiliary heads (after inception 4a and 4d: average 5/3, 1×1 conv 128,
//! fc 1024, dropout, classifier) are optional; when present their logits are extra outputs.

use super::{check_classes, Architecture, NetBuilder};
use crate::error::Result;
use crate::graph::Graph;
use crate::ops::Op;

/// Channels of one inception module: 1×1, 3×3 reduce, 3×3, 5×5 reduce, 5×5, pool projection.
type Inception = (usize, usize, usize, usize, usize, usize);

fn inception(n: &mut NetBuilder, name: &str, input: &str, c: Inception) -> Result<String> {
    let (c1, c3r, c3, c5r, c5, cp) = c;
    let p = |s: &str| format!("{name}/{s}");
    let b1 = n.conv_relu(&p("1x1"), &p("relu_1x1"), input, c1, 1, 1, 0, 1)?;
    let r3 = n.conv_relu(
        &p("3x3_reduce"),
        &p("relu_3x3_reduce"),
        input,
        c3r,
        1,
        1,
        0,
        1,
    )?;
    let b3 = n.conv_relu(&p("3x3"), &p("relu_3x3"), &r3, c3, 3, 1, 1, 1)?;
    let r5 = n.conv_relu(
        &p("5x5_reduce"),
        &p("relu_5x5_reduce"),
        input,
        c5r,
        1,
        1,
        0,
        1,
    )?;
    let b5 = n.conv_relu(&p("5x5"), &p("relu_5x5"), &r5, c5, 5, 1, 2, 1)?;
    let pool = n.pool(&p("pool"), input, true, 3, 1, 1)?;
    let bp = n.conv_relu(&p("pool_proj"), &p("relu_pool_proj"), &pool, cp, 1, 1, 0, 1)?;
    n.concat(&p("output"), &[&b1, &b3, &b5, &bp])
}

fn aux_head(n: &mut NetBuilder, name: &str, input: &str, classes: usize) -> Result<String> {
    let p = |s: &str| format!("{name}/{s}");
    let x = n.pool(&p("ave_pool"), input, false, 5, 3, 0)?;
    let x = n.conv_relu(&p("conv"), &p("relu_conv"), &x, 128, 1, 1, 0, 1)?;
    let x = n.dense(&p("fc"), &x, 1024)?;
    let x = n.add(&p("relu_fc"), Op::Relu, &[&x])?;
    let x = n.add(&p("drop_fc"), Op::Dropout, &[&x])?;
    n.dense(&p("classifier"), &x, classes)
}

/// GoogLeNet with `classes` outputs; with `aux`, the two auxiliary classifiers
/// (`loss1/classifier`, `loss2/classifier`) are built too and become extra graph outputs.
pub fn googlenet_with_aux(classes: usize, seed: u64, aux: bool) -> Result<Graph> {
    check_classes(classes)?;
    let mut n = NetBuilder::new("data", Architecture::GoogLeNet.input_shape(), seed);
    let x = n.conv_relu("conv1/7x7_s2", "conv1/relu_7x7", "data", 64, 7, 2, 3, 1)?;
    let x = n.pool("pool1/3x3_s2", &x, true, 3, 2, 0)?;
    let x = n.lrn("pool1/norm1", &x)?;
    let x = n.conv_relu(
        "conv2/3x3_reduce",
        "conv2/relu_3x3_reduce",
        &x,
        64,
        1,
        1,
        0,
        1,
    )?;
    let x = n.conv_relu("conv2/3x3", "conv2/relu_3x3", &x, 192, 3, 1, 1, 1)?;
    let x = n.lrn("conv2/norm2", &x)?;
    let x = n.pool("pool2/3x3_s2", &x, true, 3, 2, 0)?;
    let x = inception(&mut n, "inception_3a", &x, (64, 96, 128, 16, 32, 32))?;
    let x = inception(&mut n, "inception_3b", &x, (128, 128, 192, 32, 96, 64))?;
    let x = n.pool("pool3/3x3_s2", &x, true, 3, 2, 0)?;
    let x4a = inception(&mut n, "inception_4a", &x, (192, 96, 208, 16, 48, 64))?;
    let x = inception(&mut n, "inception_4b", &x4a, (160, 112, 224, 24, 64, 64))?;
    let x = inception(&mut n, "inception_4c", &x, (128, 128, 256, 24, 64, 64))?;
    let x4d = inception(&mut n, "inception_4d", &x, (112, 144, 288, 32, 64, 64))?;
    let x = inception(&mut n, "inception_4e", &x4d, (256, 160, 320, 32, 128, 128))?;
    let x = n.pool("pool4/3x3_s2", &x, true, 3, 2, 0)?;
    let x = inception(&mut n, "inception_5a", &x, (256, 160, 320, 32, 128, 128))?;
    let x = inception(&mut n, "inception_5b", &x, (384, 192, 384, 48, 128, 128))?;
    let x = n.pool("pool5/7x7_s1", &x, false, 7, 1, 0)?;
    let x = n.add("pool5/drop_7x7_s1", Op::Dropout, &[&x])?;
    let logits = n.dense("loss3/classifier", &x, classes)?;
    if aux {
        let a1 = aux_head(&mut n, "loss1", &x4a, classes)?;
        let a2 = aux_head(&mut n, "loss2", &x4d, classes)?;
        n.finish(&logits, &[&a1, &a2])
    } else {
        n.finish(&logits, &[])
    }
}
