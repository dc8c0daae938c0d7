//! The exporter's builders for layers that take more than one ONNX node or computed
//! initializers: convolutions, resizes, dense layers, affine maps, layer norms, padding, GELU.

use super::*;

impl Exporter<'_> {
    pub(super) fn conv(&mut self, n: &Node, c: &Conv2d) -> Result<()> {
        let x = n.inputs[0].clone();
        let name = n.name.clone();
        let out = n.output.clone();
        let w = self.init_f32(
            format!("{name}/weight"),
            c.weight().shape(),
            c.weight_slice(),
        );
        let mut inputs = vec![x, w];
        if let Some(b) = c.bias() {
            let b = b.to_vec();
            inputs.push(self.init_f32(format!("{name}/bias"), &[b.len()], &b));
        }
        let attrs = vec![
            attr_ints("kernel_shape", &c.kernel()),
            attr_ints("strides", &c.stride),
            attr_ints("dilations", &c.dilation),
            attr_ints("pads", &c.pads),
            attr_int("group", c.groups as i64),
        ];
        self.push(name, "Conv", inputs, out, attrs);
        Ok(())
    }

    pub(super) fn conv_transpose(&mut self, n: &Node, t: &ConvTranspose2d) -> Result<()> {
        let (name, out) = (n.name.clone(), n.output.clone());
        let w = self.init_f32(
            format!("{name}/weight"),
            t.weight().shape(),
            t.weight_slice(),
        );
        let mut inputs = vec![n.inputs[0].clone(), w];
        if let Some(b) = t.bias() {
            let b = b.to_vec();
            inputs.push(self.init_f32(format!("{name}/bias"), &[b.len()], &b));
        }
        let attrs = vec![
            attr_ints("kernel_shape", &t.kernel()),
            attr_ints("strides", &t.stride),
            attr_ints("dilations", &t.dilation),
            attr_ints("pads", &t.pads),
            attr_ints("output_padding", &t.output_padding),
            attr_int("group", t.groups as i64),
        ];
        self.push(name, "ConvTranspose", inputs, out, attrs);
        Ok(())
    }

    /// `Resize` (opset 13) with an empty `roi` and the scales, or the sizes (batch and
    /// channels kept), as initializers.
    pub(super) fn resize(&mut self, n: &Node, r: &Resize) -> Result<()> {
        let (name, out) = (n.name.clone(), n.output.clone());
        let x = n.inputs[0].clone();
        let roi = self.init_f32(format!("{name}/roi"), &[0], &[]);
        let inputs = match r.size {
            ResizeSize::Scales([sh, sw]) => {
                let scales = self.init_f32(format!("{name}/scales"), &[4], &[1.0, 1.0, sh, sw]);
                vec![x, roi, scales]
            }
            ResizeSize::Sizes([oh, ow]) => {
                // Sizes are read literally, the batch entry too: take N and C from the data's
                // shape (`Shape` → `Slice` → `Concat` with the spatial sizes, as PyTorch's
                // legacy exporter writes them), so that any batch size runs.
                let shape = self.push_helper(n, "shape", "Shape", vec![x.clone()], vec![]);
                let starts = self.init_i64(format!("{name}/nc_starts"), &[0]);
                let ends = self.init_i64(format!("{name}/nc_ends"), &[2]);
                let nc = self.push_helper(n, "nc", "Slice", vec![shape, starts, ends], vec![]);
                let hw = self.init_i64(format!("{name}/hw"), &[oh as i64, ow as i64]);
                let sizes = self.push_helper(
                    n,
                    "sizes",
                    "Concat",
                    vec![nc, hw],
                    vec![attr_int("axis", 0)],
                );
                let empty = self.init_f32(format!("{name}/scales"), &[0], &[]);
                vec![x, roi, empty, sizes]
            }
        };
        let (mode, nearest) = match r.interpolation {
            Interpolation::Linear => ("linear", "round_prefer_floor"),
            Interpolation::Nearest(m) => (
                "nearest",
                match m {
                    Nearest::RoundPreferFloor => "round_prefer_floor",
                    Nearest::RoundPreferCeil => "round_prefer_ceil",
                    Nearest::Floor => "floor",
                    Nearest::Ceil => "ceil",
                },
            ),
        };
        let coordinates = match r.coordinates {
            Coordinates::HalfPixel => "half_pixel",
            Coordinates::PytorchHalfPixel => "pytorch_half_pixel",
            Coordinates::AlignCorners => "align_corners",
            Coordinates::Asymmetric => "asymmetric",
        };
        let attrs = vec![
            attr_string("mode", mode),
            attr_string("nearest_mode", nearest),
            attr_string("coordinate_transformation_mode", coordinates),
        ];
        self.push(name, "Resize", inputs, out, attrs);
        Ok(())
    }

    pub(super) fn dense(&mut self, n: &Node, d: &Dense) -> Result<()> {
        let x = n.inputs[0].clone();
        let name = n.name.clone();
        let out = n.output.clone();
        if d.is_on_last_axis() && self.shape(&x).len() > 1 {
            return self.dense_last_axis(n, d);
        }
        // Gemm takes [N, K]; our Dense flattens the sample implicitly.
        let data = if self.shape(&x).len() == 1 {
            x
        } else {
            self.push_helper(n, "flatten", "Flatten", vec![x], vec![attr_int("axis", 1)])
        };
        let w = self.init_f32(
            format!("{name}/weight"),
            d.weight().shape(),
            d.weight_slice(),
        );
        let mut inputs = vec![data, w];
        if let Some(b) = d.bias() {
            let b = b.to_vec();
            inputs.push(self.init_f32(format!("{name}/bias"), &[b.len()], &b));
        }
        self.push(name, "Gemm", inputs, out, vec![attr_int("transB", 1)]);
        Ok(())
    }

    /// A dense layer on the last axis: `MatMul` by the transposed weight `[K, M]`, then `Add`
    /// of the bias `[M]` (broadcast over the leading axes) if there is one.
    pub(super) fn dense_last_axis(&mut self, n: &Node, d: &Dense) -> Result<()> {
        let x = n.inputs[0].clone();
        let (name, out) = (n.name.clone(), n.output.clone());
        let wt = d.weight().t().as_standard_layout().into_owned();
        let w = self.init_f32(
            format!("{name}/weight"),
            wt.shape(),
            wt.as_slice().expect("standard layout"),
        );
        let Some(b) = d.bias() else {
            self.push(name, "MatMul", vec![x, w], out, vec![]);
            return Ok(());
        };
        let product = self.push_helper(n, "matmul", "MatMul", vec![x, w], vec![]);
        let b = b.to_vec();
        let b = self.init_f32(format!("{name}/bias"), &[b.len()], &b);
        self.push(name, "Add", vec![product, b], out, vec![]);
        Ok(())
    }

    pub(super) fn affine(&mut self, n: &Node, a: &Affine) -> Result<()> {
        let x = n.inputs[0].clone();
        let name = n.name.clone();
        let out = n.output.clone();
        let shape = self.shape(&x);
        // Same test as `Affine::forward`: one value per channel, else per element.
        let dims: Vec<usize> = if a.scale().len() == shape[0] {
            let mut d = vec![1; shape.len()];
            d[0] = shape[0];
            d
        } else {
            shape.to_vec()
        };
        let scale = a.scale().to_vec();
        let shift = a.shift().to_vec();
        let s = self.init_f32(format!("{name}/scale"), &dims, &scale);
        let t = self.init_f32(format!("{name}/shift"), &dims, &shift);
        let scaled = self.push_helper(n, "scale", "Mul", vec![x, s], vec![]);
        self.push(name, "Add", vec![scaled, t], out, vec![]);
        Ok(())
    }

    /// Layer normalisation spelled out in opset 13, as PyTorch's TorchScript exporter writes
    /// it (the importer fuses it back into one node): `ReduceMean`, `Sub`, `Pow`,
    /// `ReduceMean`, `Add` ε, `Sqrt`, `Div`, `Mul` γ, `Add` β.
    pub(super) fn layer_norm(&mut self, n: &Node, l: &LayerNorm) -> Result<()> {
        let x = n.inputs[0].clone();
        let name = n.name.clone();
        let sample = self.shape(&x);
        let end = l.end_axis(sample.len());
        // Full-tensor axes of the normalised block; γ and β shaped as the block followed by
        // 1 for every axis after it.
        let axes: Vec<usize> = (l.axis + 1..end + 1).collect();
        let mut dims = sample[l.axis..end].to_vec();
        dims.resize(sample.len() - l.axis, 1);
        let reduce = || vec![attr_ints("axes", &axes), attr_int("keepdims", 1)];
        let mean = self.push_helper(n, "mean", "ReduceMean", vec![x.clone()], reduce());
        let d = self.push_helper(n, "centred", "Sub", vec![x, mean], vec![]);
        let two = self.init_f32(format!("{name}/two"), &[], &[2.0]);
        let sq = self.push_helper(n, "square", "Pow", vec![d.clone(), two], vec![]);
        let var = self.push_helper(n, "variance", "ReduceMean", vec![sq], reduce());
        let eps = self.init_f32(format!("{name}/epsilon"), &[], &[l.epsilon]);
        let var = self.push_helper(n, "variance_eps", "Add", vec![var, eps], vec![]);
        let std = self.push_helper(n, "std", "Sqrt", vec![var], vec![]);
        let scale = self.init_f32(format!("{name}/scale"), &dims, &l.scale().to_vec());
        let bias = l
            .bias()
            .map(|b| self.init_f32(format!("{name}/bias"), &dims, &b.to_vec()));
        let normed = self.push_helper(n, "normalised", "Div", vec![d, std], vec![]);
        match bias {
            Some(b) => {
                let scaled = self.push_helper(n, "scaled", "Mul", vec![normed, scale], vec![]);
                self.push(name, "Add", vec![scaled, b], n.output.clone(), vec![]);
            }
            None => self.push(name, "Mul", vec![normed, scale], n.output.clone(), vec![]),
        }
        Ok(())
    }

    /// `Pad` in constant mode; per-channel fill values (which ONNX `Pad` lacks) as a zero
    /// `Pad` followed by the `Add` of a constant holding the values on the padding and 0
    /// inside, which gives the same numbers exactly.
    pub(super) fn pad(&mut self, n: &Node, p: &Pad) -> Result<()> {
        let x = n.inputs[0].clone();
        let name = n.name.clone();
        // ONNX pads: begins of all axes (batch first), then ends.
        let mut pads = vec![0i64];
        pads.extend(p.begin.iter().map(|&v| v as i64));
        pads.push(0);
        pads.extend(p.end.iter().map(|&v| v as i64));
        let pads = self.init_i64(format!("{name}/pads"), &pads);
        let attrs = vec![attr_string("mode", "constant")];
        let Some(values) = &p.channel_values else {
            let value = self.init_f32(format!("{name}/value"), &[], &[p.value]);
            self.push(name, "Pad", vec![x, pads, value], n.output.clone(), attrs);
            return Ok(());
        };
        let zero = self.init_f32(format!("{name}/value"), &[], &[0.0]);
        let padded = self.push_helper(n, "zero_pad", "Pad", vec![x.clone(), pads, zero], attrs);
        // The fill: values[c] wherever the output is padding, 0 where it holds the input.
        let input = self.shape(&x);
        let out = self.shape(&n.output);
        let ones = Tensor::ones(IxDyn(input));
        let mask = Pad::new(p.begin.clone(), p.end.clone(), 0.0)
            .forward(&ones.insert_axis(ndarray::Axis(0)));
        let plane: usize = out[1..].iter().product();
        let fill: Vec<f32> = mask
            .iter()
            .enumerate()
            .map(|(i, &inside)| {
                if inside == 1.0 {
                    0.0
                } else {
                    values[i / plane]
                }
            })
            .collect();
        let fill = self.init_f32(format!("{name}/fill"), out, &fill);
        self.push(name, "Add", vec![padded, fill], n.output.clone(), vec![]);
        Ok(())
    }

    /// GELU spelled out in opset-13 operators (Gelu is opset 20), as PyTorch's exporter writes
    /// it at opset 13 (the ONNX importer fuses it back): erf form `(x · (erf(x / √2) + 1)) ·
    /// 0.5`, tanh form `(x · (tanh(√(2/π) · (x + 0.044715 · x · x · x)) + 1)) · 0.5`.
    pub(super) fn gelu(&mut self, n: &Node, form: GeluApprox) {
        let x = n.inputs[0].clone();
        let scalar = |ex: &mut Self, what: &str, v: f32| {
            ex.init_f32(format!("{}/{what}", n.name), &[], &[v])
        };
        let one = scalar(self, "one", 1.0);
        let half = scalar(self, "half", 0.5);
        let inner = match form {
            GeluApprox::Erf => {
                let sqrt2 = scalar(self, "sqrt2", std::f32::consts::SQRT_2);
                let z = self.push_helper(n, "div", "Div", vec![x.clone(), sqrt2], vec![]);
                self.push_helper(n, "erf", "Erf", vec![z], vec![])
            }
            GeluApprox::Tanh => {
                let c = scalar(self, "cubic", 0.044_715);
                let k = scalar(self, "sqrt_2_over_pi", 0.797_884_6);
                let x2 = self.push_helper(n, "square", "Mul", vec![x.clone(), x.clone()], vec![]);
                let x3 = self.push_helper(n, "cube", "Mul", vec![x.clone(), x2], vec![]);
                let cx3 = self.push_helper(n, "cubic_term", "Mul", vec![c, x3], vec![]);
                let sum = self.push_helper(n, "inner", "Add", vec![x.clone(), cx3], vec![]);
                let u = self.push_helper(n, "scaled", "Mul", vec![k, sum], vec![]);
                self.push_helper(n, "tanh", "Tanh", vec![u], vec![])
            }
        };
        let gate = self.push_helper(n, "plus_one", "Add", vec![inner, one], vec![]);
        let prod = self.push_helper(n, "times_x", "Mul", vec![x, gate], vec![]);
        self.push(
            n.name.clone(),
            "Mul",
            vec![prod, half],
            n.output.clone(),
            vec![],
        );
    }
}
