//! Finding faces in photos: face-api's tiny face detector (shipped as
//! [`TINY_FACE_DETECTOR_ONNX`](crate::assets::TINY_FACE_DETECTOR_ONNX)), its box decoding and
//! non-maximum suppression, and face-api's rule for the crop a face model then sees.
//!
//! The pipeline follows face-api 1.7.15 (`TinyFaceDetector`, `TinyYolov2Base.extractBoxes`,
//! `ops/nonMaxSuppression`, `Box.clipAtImageBorders`) and the converted model's README:
//!
//! 1. **Input** ([`detector_input`]): the whole photo zero-padded to a square at the
//!    bottom/right, the tfjs bilinear resize to 416×416
//!    ([`crate::preprocess::tfjs_square`]), RGB
//!    `(pixel − [117.001, 114.697, 97.404]) / 255`.
//! 2. **Forward**: the network's `grid` N×25×13×13, five anchors × (tx, ty, tw, th, to) per
//!    cell.
//! 3. **Decoding** ([`decode`]): `score = sigmoid(to)`, kept if `score > threshold` (0.5 by
//!    default); centre `((col + sigmoid(tx)) / 13 · cx, (row + sigmoid(ty)) / 13 · cy)`, size
//!    `(exp(tw) · anchor_w / 13 · cx, exp(th) · anchor_h / 13 · cy)` as fractions of the photo,
//!    where `cx = s / w'`, `cy = s / h'` undo the padding (`w'`, `h'`: the photo's sides scaled
//!    so the longer is 416, `Math.round`ed; `s = max(w', h')`).
//! 4. **Non-maximum suppression** ([`non_max_suppression`]): greedy by descending score; a box
//!    whose IoU with a kept one is **above** 0.4 is dropped.
//! 5. **Pixels**: x and width times the photo's width, y and height times its height, not
//!    clipped ([`Detection`]). The crop a face model gets is [`Detection::crop_box`]: the box
//!    clipped at the photo's borders, then every coordinate floored (face-api's
//!    `extractFaceTensors`).
//!
//! ```
//! use lrp::faces::FaceDetector;
//! let detector = FaceDetector::shipped().unwrap();
//! let photo = lrp::preprocess::decode_rgb(lrp::assets::ASTRONAUT_PNG, "astronaut.png").unwrap();
//! let faces = detector.detect(&photo).unwrap();
//! assert_eq!(faces.len(), 1);
//! let b = faces[0].crop_box(photo.width(), photo.height()).unwrap();
//! // face-api's JavaScript gives the crop x 163, y 75, width 116, height 110.
//! assert_eq!((b.left, b.top, b.width(), b.height()), (163, 75, 116, 110));
//! ```

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::preprocess::{tfjs_normalize, tfjs_square, FaceBox, RgbImage, SquarePadding};
use crate::Tensor;
use ndarray::{s, Array3, ArrayView3, Axis};

/// Side of the detector's square input.
pub const INPUT_SIZE: u32 = 416;

/// Cells per side of the output grid (`INPUT_SIZE / 32`).
pub const GRID: usize = 13;

/// Per-channel mean (R, G, B) subtracted from the 0–255 pixels before dividing by 255.
pub const MEAN_RGB: [f32; 3] = [117.001, 114.697, 97.404];

/// The five anchors `(width, height)` in grid cells, in output order.
pub const ANCHORS: [(f64, f64); 5] = [
    (1.603231, 2.094468),
    (6.041143, 7.080126),
    (2.882459, 3.518061),
    (4.266906, 5.178857),
    (9.041765, 10.66308),
];

/// face-api's default score threshold (`TinyFaceDetectorOptions.scoreThreshold`).
pub const DEFAULT_SCORE_THRESHOLD: f64 = 0.5;

/// face-api's IoU threshold of the non-maximum suppression.
pub const DEFAULT_IOU_THRESHOLD: f64 = 0.4;

/// A box decoded from one grid cell and anchor, as fractions of the photo's width and height
/// (face-api's `relativeBox`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Grid row.
    pub row: usize,
    /// Grid column.
    pub col: usize,
    /// Anchor index (0..5).
    pub anchor: usize,
    /// `sigmoid(to)`.
    pub score: f64,
    /// Left edge, a fraction of the photo's width (may be negative).
    pub x: f64,
    /// Top edge, a fraction of the photo's height (may be negative).
    pub y: f64,
    /// Width, a fraction of the photo's width.
    pub width: f64,
    /// Height, a fraction of the photo's height.
    pub height: f64,
}

/// A face found in a photo: its score and its box in the photo's pixels, not clipped (it may
/// reach beyond the borders), as face-api's `FaceDetection.box`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// The detector's confidence, `sigmoid(to)`, in (0, 1).
    pub score: f64,
    /// Left edge in pixels.
    pub x: f64,
    /// Top edge in pixels.
    pub y: f64,
    /// Width in pixels.
    pub width: f64,
    /// Height in pixels.
    pub height: f64,
}

impl Detection {
    /// The crop face-api cuts for its face models: the box clipped at the borders of a
    /// `width`×`height` photo (`Box.clipAtImageBorders`), then x, y, width and height each
    /// floored. `None` if nothing of the box lies inside the photo.
    ///
    /// ```
    /// use lrp::faces::Detection;
    /// let d = Detection { score: 0.9, x: -3.5, y: 10.7, width: 20.2, height: 400.0 };
    /// let b = d.crop_box(100, 200).unwrap();
    /// // x clipped to 0, width 16.7 → 16; y 10.7 → 10, height to the bottom: 189.3 → 189.
    /// assert_eq!((b.left, b.top, b.right, b.bottom), (0, 10, 16, 199));
    /// ```
    pub fn crop_box(&self, width: u32, height: u32) -> Option<FaceBox> {
        let (w, h) = (f64::from(width), f64::from(height));
        let (x, y) = (self.x.max(0.0), self.y.max(0.0));
        let cw = (self.x + self.width - x).min(w - x);
        let ch = (self.y + self.height - y).min(h - y);
        let (x, y, cw, ch) = (x.floor(), y.floor(), cw.floor(), ch.floor());
        let finite = [x, y, cw, ch].iter().all(|v| v.is_finite());
        if !finite || cw < 1.0 || ch < 1.0 || x >= w || y >= h {
            return None;
        }
        let (l, t) = (x as i64, y as i64);
        Some(FaceBox::new(l, t, l + cw as i64, t + ch as i64))
    }

    /// The box in pixels as `(left, top, right, bottom)` floats (unclipped).
    pub fn ltrb(&self) -> [f64; 4] {
        [self.x, self.y, self.x + self.width, self.y + self.height]
    }
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// `(w', h')`: a `width`×`height` photo's sides scaled so that the longer one is `size`,
/// each rounded half up (`Math.round`).
fn reshaped_dims(width: u32, height: u32, size: u32) -> (f64, f64) {
    let scale = f64::from(size) / f64::from(width.max(height));
    (
        (f64::from(width) * scale + 0.5).floor(),
        (f64::from(height) * scale + 0.5).floor(),
    )
}

/// Decodes one photo's `grid` (25×G×G, the network's output for it) into every candidate
/// whose score exceeds `score_threshold` (all of them for a threshold below 0), in the order
/// row, column, anchor. `width` and `height` are the original photo's, `input_size` the
/// detector's input side (416 for the shipped network).
///
/// Errors with [`Error::Invalid`] if `grid` does not have 25 channels and a square grid.
pub fn decode(
    grid: ArrayView3<f32>,
    width: u32,
    height: u32,
    input_size: u32,
    score_threshold: f64,
) -> Result<Vec<Candidate>> {
    let (c, rows, cols) = grid.dim();
    if c != 5 * ANCHORS.len() || rows != cols || rows == 0 {
        return Err(Error::Invalid(format!(
            "face detector output: expected 25×G×G (5 anchors × tx, ty, tw, th, score), got \
             {c}×{rows}×{cols}"
        )));
    }
    if width == 0 || height == 0 {
        return Err(Error::Invalid(format!(
            "face detection in an empty {width}×{height} image"
        )));
    }
    let g = rows as f64;
    let (wr, hr) = reshaped_dims(width, height, input_size);
    let side = wr.max(hr);
    let (cx, cy) = (side / wr, side / hr);
    let mut out = Vec::new();
    for row in 0..rows {
        for col in 0..cols {
            for (a, &(aw, ah)) in ANCHORS.iter().enumerate() {
                let v = |k: usize| f64::from(grid[[5 * a + k, row, col]]);
                let score = sigmoid(v(4));
                // NaN scores (a non-finite output) are dropped too.
                if score <= score_threshold || score.is_nan() {
                    continue;
                }
                let ctx = (col as f64 + sigmoid(v(0))) / g * cx;
                let cty = (row as f64 + sigmoid(v(1))) / g * cy;
                let w = v(2).exp() * aw / g * cx;
                let h = v(3).exp() * ah / g * cy;
                out.push(Candidate {
                    row,
                    col,
                    anchor: a,
                    score,
                    x: ctx - w / 2.0,
                    y: cty - h / 2.0,
                    width: w,
                    height: h,
                });
            }
        }
    }
    Ok(out)
}

/// Intersection over union of two candidates' boxes (`ops/iou.ts`; 0 when the union is
/// empty).
///
/// ```
/// use lrp::faces::{iou, Candidate};
/// let b = |x: f64| Candidate { row: 0, col: 0, anchor: 0, score: 1.0, x, y: 0.0, width: 2.0, height: 1.0 };
/// assert_eq!(iou(&b(0.0), &b(1.0)), 1.0 / 3.0);
/// assert_eq!(iou(&b(0.0), &b(5.0)), 0.0);
/// ```
pub fn iou(a: &Candidate, b: &Candidate) -> f64 {
    let iw = ((a.x + a.width).min(b.x + b.width) - a.x.max(b.x)).max(0.0);
    let ih = ((a.y + a.height).min(b.y + b.height) - a.y.max(b.y)).max(0.0);
    let inter = iw * ih;
    let union = a.width * a.height + b.width * b.height - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// face-api's greedy non-maximum suppression: repeatedly keep the highest-scoring remaining
/// candidate and drop every remaining one whose [`iou`] with it is above `iou_threshold`
/// (one at exactly the threshold is kept). Returns the kept candidates by descending score.
pub fn non_max_suppression(candidates: &[Candidate], iou_threshold: f64) -> Vec<Candidate> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    // Ascending by score, the maximum popped from the end; equal scores keep their order, so
    // the later one (in row, column, anchor order) is taken first as in face-api.
    order.sort_by(|&i, &j| candidates[i].score.total_cmp(&candidates[j].score));
    let mut kept = Vec::new();
    while let Some(best) = order.pop() {
        kept.push(candidates[best]);
        order.retain(|&i| iou(&candidates[best], &candidates[i]) <= iou_threshold);
    }
    kept
}

/// The detector's input for one photo: 3×416×416 (see the module documentation, step 1).
///
/// Errors with [`Error::Preprocess`] for an empty image.
pub fn detector_input(image: &RgbImage, input_size: u32) -> Result<Array3<f32>> {
    let hwc = tfjs_square(image, input_size, SquarePadding::BottomRight)?;
    Ok(tfjs_normalize(&hwc, MEAN_RGB, 255.0))
}

/// face-api's tiny face detector: the network, its input size and the thresholds.
#[derive(Debug, Clone)]
pub struct FaceDetector {
    graph: Graph,
    input_size: u32,
    /// Candidates scoring at or below this are dropped (default 0.5).
    pub score_threshold: f64,
    /// Non-maximum suppression drops boxes overlapping a better one by more than this IoU
    /// (default 0.4).
    pub iou_threshold: f64,
}

impl FaceDetector {
    /// The shipped detector ([`TINY_FACE_DETECTOR_ONNX`](crate::assets::TINY_FACE_DETECTOR_ONNX))
    /// with face-api's default thresholds.
    pub fn shipped() -> Result<FaceDetector> {
        let mut graph = crate::import::onnx::from_bytes(
            crate::assets::TINY_FACE_DETECTOR_ONNX,
            "<embedded tiny_face_detector.onnx>",
        )?;
        graph.set_name("tiny_face_detector");
        FaceDetector::from_graph(graph)
    }

    /// A detector from a graph with face-api's layout: input 3×S×S (S a multiple of 32),
    /// output 25×(S/32)×(S/32). Errors with [`Error::Invalid`] for any other shapes.
    pub fn from_graph(graph: Graph) -> Result<FaceDetector> {
        let (i, o) = (graph.input_shape().to_vec(), graph.output_shape().to_vec());
        let ok = matches!(i.as_slice(), [3, h, w] if h == w && *h % 32 == 0 && *h > 0)
            && o == [5 * ANCHORS.len(), i[1] / 32, i[1] / 32];
        if !ok {
            return Err(Error::Invalid(format!(
                "{}: not a face-api tiny face detector: expected input 3×S×S (S a multiple of \
                 32) and output 25×S/32×S/32, got input {i:?} and output {o:?}",
                graph.name()
            )));
        }
        let input_size = i[1] as u32;
        Ok(FaceDetector {
            graph,
            input_size,
            score_threshold: DEFAULT_SCORE_THRESHOLD,
            iou_threshold: DEFAULT_IOU_THRESHOLD,
        })
    }

    /// The same detector with another score threshold.
    pub fn with_score_threshold(mut self, threshold: f64) -> FaceDetector {
        self.score_threshold = threshold;
        self
    }

    /// The network.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The side of the network's square input (416).
    pub fn input_size(&self) -> u32 {
        self.input_size
    }

    /// The raw output `grid` (N×25×G×G) for a batch of photos.
    pub fn grid(&self, images: &[&RgbImage]) -> Result<Tensor> {
        if images.is_empty() {
            return Err(Error::Preprocess(
                "face detection needs at least one image".into(),
            ));
        }
        let inputs = images
            .iter()
            .map(|im| detector_input(im, self.input_size))
            .collect::<Result<Vec<_>>>()?;
        let views: Vec<_> = inputs.iter().map(|a| a.view()).collect();
        let x = ndarray::stack(Axis(0), &views)
            .map_err(|e| Error::Preprocess(format!("face detector batch: {e}")))?
            .into_dyn();
        self.graph.forward(&x)
    }

    /// The faces in each photo of a batch, after non-maximum suppression, by descending
    /// score.
    pub fn detect_batch(&self, images: &[&RgbImage]) -> Result<Vec<Vec<Detection>>> {
        let grid = self.grid(images)?;
        let g = GRID.max(self.input_size as usize / 32);
        let grid = grid
            .into_shape_with_order((images.len(), 5 * ANCHORS.len(), g, g))
            .map_err(|e| Error::Invalid(format!("face detector output: {e}")))?;
        images
            .iter()
            .enumerate()
            .map(|(n, im)| {
                let cands = decode(
                    grid.slice(s![n, .., .., ..]),
                    im.width(),
                    im.height(),
                    self.input_size,
                    self.score_threshold,
                )?;
                let (w, h) = (f64::from(im.width()), f64::from(im.height()));
                Ok(non_max_suppression(&cands, self.iou_threshold)
                    .into_iter()
                    .map(|c| Detection {
                        score: c.score,
                        x: c.x * w,
                        y: c.y * h,
                        width: c.width * w,
                        height: c.height * h,
                    })
                    .collect())
            })
            .collect()
    }

    /// The faces in one photo, after non-maximum suppression, by descending score.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>> {
        Ok(self.detect_batch(&[image])?.pop().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(x: f64, y: f64, w: f64, h: f64, score: f64) -> Candidate {
        Candidate {
            row: 0,
            col: 0,
            anchor: 0,
            score,
            x,
            y,
            width: w,
            height: h,
        }
    }

    #[test]
    fn nms_drops_only_overlaps_above_the_threshold() {
        // IoU of two 10×10 squares shifted by d along x: (10 − d) / (10 + d).
        // d = 30/7 gives exactly 0.4 (kept); d = 4 gives 6/14 = 0.43 (dropped).
        let a = cand(0.0, 0.0, 10.0, 10.0, 0.9);
        let b = cand(4.0, 0.0, 10.0, 10.0, 0.8);
        let c = cand(50.0, 0.0, 10.0, 10.0, 0.7);
        let kept = non_max_suppression(&[b, c, a], 0.4);
        assert_eq!(kept, vec![a, c]);
        let d = cand(2.5, 0.0, 10.0, 10.0, 0.95);
        assert_eq!(iou(&a, &d), 0.6);
        assert_eq!(non_max_suppression(&[a, d], 0.6), vec![d, a]);
        assert_eq!(non_max_suppression(&[a, d], 0.59), vec![d]);
    }

    #[test]
    fn crop_box_outside_the_image_is_none() {
        let d = Detection {
            score: 0.9,
            x: 120.0,
            y: 0.0,
            width: 10.0,
            height: 10.0,
        };
        assert_eq!(d.crop_box(100, 100), None);
        let d = Detection { x: 10.0, ..d };
        assert_eq!(d.crop_box(100, 100), Some(FaceBox::new(10, 0, 20, 10)));
    }

    #[test]
    fn reshaped_dims_round_half_up() {
        // 512×600 at 416: 512 · 416/600 = 354.986… → 355.
        assert_eq!(reshaped_dims(512, 600, 416), (355.0, 416.0));
        // 3×2 at 5: 2 · 5/3 = 3.33 → 3; 1×2 at 3: 1.5 → 2.
        assert_eq!(reshaped_dims(3, 2, 5), (5.0, 3.0));
        assert_eq!(reshaped_dims(1, 2, 3), (2.0, 3.0));
    }
}
