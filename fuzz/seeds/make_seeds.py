#!/usr/bin/env python3
"""Writes the small, self-made seed files of fuzz/seeds (no third-party data).

Run from fuzz/: python3 seeds/make_seeds.py
"""
import os
import struct


def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, wire, payload):
    key = varint((num << 3) | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def string(num, s):
    return field(num, 2, s.encode() if isinstance(s, str) else s)


def blob(shape, values, legacy=False):
    data = field(5, 2, b"".join(struct.pack("<f", v) for v in values))
    if legacy:
        dims = (list(shape) + [1] * 4)[:4]
        return b"".join(field(i + 1, 0, varint(d)) for i, d in enumerate(dims)) + data
    shp = field(1, 2, b"".join(varint(d) for d in shape))
    return field(7, 2, shp) + data


def layer(name, type_, bottoms, tops, blobs=()):
    out = string(1, name) + string(2, type_)
    out += b"".join(string(3, b) for b in bottoms) + b"".join(string(4, t) for t in tops)
    out += b"".join(field(7, 2, b) for b in blobs)
    return out


def vals(n, k=0.1):
    return [((i * 37) % 17 - 8) * k for i in range(n)]


os.makedirs("seeds/caffemodel", exist_ok=True)
os.makedirs("seeds/binaryproto", exist_ok=True)
os.makedirs("seeds/prototxt", exist_ok=True)

# A tiny caffemodel: conv 2x3x3x3 + ReLU + pool + InnerProduct 2 from an 8x8 input.
net = string(1, "tiny")
net += string(3, "data") + b"".join(field(4, 0, varint(d)) for d in (1, 3, 8, 8))
net += field(100, 2, layer("conv1", "Convolution", ["data"], ["conv1"],
                           [blob([2, 3, 3, 3], vals(54)), blob([2], [0.1, -0.1])]))
net += field(100, 2, layer("relu1", "ReLU", ["conv1"], ["conv1"]))
net += field(100, 2, layer("pool1", "Pooling", ["conv1"], ["pool1"]))
net += field(100, 2, layer("fc", "InnerProduct", ["pool1"], ["fc"],
                           [blob([2, 72], vals(144, 0.01)), blob([2], [0.0, 0.5])]))
open("seeds/caffemodel/tiny.caffemodel", "wb").write(net)

# Mean images: current (shape) and legacy (num/channels/height/width) encodings.
open("seeds/binaryproto/mean_shape.binaryproto", "wb").write(
    blob([1, 3, 4, 4], [100.0 + i for i in range(48)]))
open("seeds/binaryproto/mean_legacy.binaryproto", "wb").write(
    blob([1, 3, 2, 2], [90.0 + i for i in range(12)], legacy=True))

open("seeds/prototxt/tiny.prototxt", "w").write('''name: "tiny"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 16
input_dim: 16
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 stride: 1 pad: 1 group: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "norm1" type: "LRN" bottom: "conv1" top: "norm1"
  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }
layer { name: "pool1" type: "Pooling" bottom: "norm1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool1" top: "fc"
  inner_product_param { num_output: 2 } }
layer { name: "drop" type: "Dropout" bottom: "fc" top: "fc" dropout_param { dropout_ratio: 0.5 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
''')
open("seeds/prototxt/v1.prototxt", "w").write('''name: "v1"
input: "data"
input_shape { dim: 1 dim: 1 dim: 6 dim: 6 }
layers { name: "c" type: CONVOLUTION bottom: "data" top: "c"
  convolution_param { num_output: 2 kernel_size: 2 } }
layers { name: "p" type: POOLING bottom: "c" top: "p" pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layers { name: "f" type: INNER_PRODUCT bottom: "p" top: "f" inner_product_param { num_output: 3 } }
''')
