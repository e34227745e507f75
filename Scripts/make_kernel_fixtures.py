#!/usr/bin/env python3
"""Writes the oracle for Sources/PthKitRuntime/Kernels: for every case, its inputs, parameters and
PyTorch's float32 output as .npy, plus cases.json naming each case's kernel, arguments and files.
Also a few .npy files in other dtypes, byte orders and format versions for the NPY reader.

    .venv/bin/python Scripts/make_kernel_fixtures.py [--out Tests/Fixtures/kernels]

Deterministic (fixed seed), small (well under 3 MB) and committed; generator.sha256 holds the
sha256 of this script so a test can tell when the fixtures are older than the script.
"""
import argparse
import hashlib
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(20240601)


def randn(*shape, scale=1.0):
    return torch.randn(*shape) * scale


class Writer:
    def __init__(self, out):
        self.out = out
        self.cases = []

    def save(self, relative, array):
        array = np.asarray(array, order="C")  # ascontiguousarray would make a 0-d array 1-d
        np.save(os.path.join(self.out, relative), array)
        return relative

    def case(self, name, kernel, args, inputs, expected):
        """inputs: role -> tensor (or None, left out); expected: a tensor or a list of tensors."""
        tensors = {}
        for role, value in inputs.items():
            if value is not None:
                tensors[role] = self.save(f"{name}.{role}.npy", value.detach().numpy().astype(np.float32))
        if isinstance(expected, (list, tuple)):
            tensors["expected"] = [
                self.save(f"{name}.expected.{i}.npy", t.detach().numpy().astype(np.float32))
                for i, t in enumerate(expected)
            ]
        else:
            tensors["expected"] = self.save(f"{name}.expected.npy", expected.detach().numpy().astype(np.float32))
        assert all(c["name"] != name for c in self.cases), name
        self.cases.append({"name": name, "kernel": kernel, "args": args, "tensors": tensors})


def conv_cases(w):
    # (name, N, C_in, C_out, H, W, kernel, stride, padding, dilation, groups, bias)
    table = [
        ("conv_3x3_s1_p1", 2, 3, 5, 9, 11, (3, 3), (1, 1), (1, 1), (1, 1), 1, True),
        ("conv_3x3_s2_p1_nobias", 1, 4, 6, 13, 10, (3, 3), (2, 2), (1, 1), (1, 1), 1, False),
        ("conv_1x1_pointwise", 2, 16, 8, 7, 5, (1, 1), (1, 1), (0, 0), (1, 1), 1, True),
        ("conv_1x1_s2", 1, 6, 4, 9, 8, (1, 1), (2, 2), (0, 0), (1, 1), 1, True),
        ("conv_1x1_p1", 1, 3, 2, 4, 5, (1, 1), (1, 1), (1, 1), (1, 1), 1, False),
        ("conv_1x1_pointwise_groups3", 2, 12, 9, 5, 6, (1, 1), (1, 1), (0, 0), (1, 1), 3, True),
        ("conv_3x3_dilation2_p2", 1, 3, 4, 12, 9, (3, 3), (1, 1), (2, 2), (2, 2), 1, True),
        ("conv_3x1_asymmetric", 2, 3, 4, 10, 7, (3, 1), (2, 1), (1, 0), (1, 2), 1, True),
        ("conv_2x4_mixed", 1, 2, 3, 8, 11, (2, 4), (1, 3), (0, 2), (2, 1), 1, True),
        ("conv_groups2", 2, 4, 6, 8, 7, (3, 3), (1, 1), (1, 1), (1, 1), 2, True),
        ("conv_7x7_s2_p3_stem", 1, 3, 8, 17, 15, (7, 7), (2, 2), (3, 3), (1, 1), 1, False),
        ("conv_5x5_kernel_larger_than_input", 1, 2, 3, 2, 3, (5, 5), (1, 1), (2, 2), (1, 1), 1, True),
        ("conv_s3_p0_uneven", 1, 3, 4, 11, 10, (3, 3), (3, 3), (0, 0), (1, 1), 1, True),
        ("conv_wide_accumulation", 1, 32, 16, 14, 14, (3, 3), (1, 1), (1, 1), (1, 1), 1, True),
        ("conv_depthwise_multiplier2", 1, 4, 8, 7, 9, (3, 3), (1, 1), (1, 1), (1, 1), 4, True),
        ("dw_3x3_s1_p1", 2, 8, 8, 10, 9, (3, 3), (1, 1), (1, 1), (1, 1), 8, True),
        ("dw_3x3_s2_p1", 1, 8, 8, 11, 13, (3, 3), (2, 2), (1, 1), (1, 1), 8, True),
        ("dw_3x3_s2_p1_even", 2, 4, 4, 12, 12, (3, 3), (2, 2), (1, 1), (1, 1), 4, False),
        ("dw_5x5_s1_p2", 1, 6, 6, 9, 10, (5, 5), (1, 1), (2, 2), (1, 1), 6, True),
        ("dw_5x5_s2_p2", 2, 6, 6, 12, 11, (5, 5), (2, 2), (2, 2), (1, 1), 6, True),
        ("dw_3x3_dilation2", 1, 5, 5, 9, 9, (3, 3), (1, 1), (2, 2), (2, 2), 5, True),
        ("dw_7x7_p3", 1, 4, 4, 8, 6, (7, 7), (1, 1), (3, 3), (1, 1), 4, True),
        ("dw_3x3_p0", 1, 3, 3, 6, 7, (3, 3), (1, 1), (0, 0), (1, 1), 3, True),
        ("dw_1x1", 1, 3, 3, 4, 4, (1, 1), (1, 1), (0, 0), (1, 1), 3, True),
        ("dw_3x3_tiny_input", 1, 2, 2, 1, 2, (3, 3), (2, 2), (1, 1), (1, 1), 2, True),
    ]
    for name, n, cin, cout, h, wd, k, s, p, d, g, has_bias in table:
        x = randn(n, cin, h, wd)
        weight = randn(cout, cin // g, *k, scale=1 / math.sqrt(cin // g * k[0] * k[1]))
        bias = randn(cout) if has_bias else None
        y = F.conv2d(x, weight, bias, stride=s, padding=p, dilation=d, groups=g)
        args = {"stride": list(s), "padding": list(p), "dilation": list(d), "groups": g}
        w.case(name, "conv2d", args, {"input": x, "weight": weight, "bias": bias}, y)


def linear_cases(w):
    for name, in_shape, out, has_bias in [
        ("linear_single_row", (1, 20), 7, True),
        ("linear_batch", (5, 20), 7, True),
        ("linear_rank3_nobias", (2, 3, 16), 4, False),
        ("linear_rank1", (20,), 6, True),
        ("linear_classifier_512", (4, 512), 10, True),
    ]:
        x = randn(*in_shape)
        weight = randn(out, in_shape[-1], scale=1 / math.sqrt(in_shape[-1]))
        bias = randn(out) if has_bias else None
        w.case(name, "linear", {}, {"input": x, "weight": weight, "bias": bias}, F.linear(x, weight, bias))
    for name, a_shape, b_shape, ta, tb in [
        ("matmul_plain", (3, 4), (4, 5), False, False),
        ("matmul_transpose_a", (4, 3), (4, 5), True, False),
        ("matmul_transpose_b", (3, 4), (5, 4), False, True),
        ("matmul_transpose_both", (6, 3), (5, 6), True, True),
    ]:
        a, b = randn(*a_shape), randn(*b_shape)
        y = (a.T if ta else a) @ (b.T if tb else b)
        w.case(name, "matmul", {"transpose_a": ta, "transpose_b": tb}, {"a": a, "b": b}, y)


def batch_norm_cases(w):
    for name, shape, eps, affine in [
        ("batchnorm_affine", (2, 16, 5, 7), 1e-5, True),
        ("batchnorm_eps1e-3_no_affine", (1, 8, 3, 3), 1e-3, False),
        ("batchnorm_1x1_spatial", (3, 32, 1, 1), 1e-5, True),
        ("batchnorm_1d", (4, 12), 1e-5, True),
    ]:
        c = shape[1]
        x = randn(*shape, scale=3)
        mean, var = randn(c, scale=2), torch.rand(c) * 4 + 1e-3
        weight, bias = (randn(c), randn(c)) if affine else (None, None)
        y = F.batch_norm(x, mean, var, weight, bias, training=False, eps=eps)
        w.case(name, "batch_norm", {"eps": eps},
               {"input": x, "mean": mean, "variance": var, "weight": weight, "bias": bias}, y)


def pool_cases(w):
    # (name, shape, kernel, stride, padding, dilation, ceil_mode)
    for name, shape, k, s, p, d, ceil in [
        ("maxpool_3x3_s2_p1", (2, 3, 13, 13), (3, 3), (2, 2), (1, 1), (1, 1), False),
        ("maxpool_3x3_s2_ceil", (1, 2, 14, 14), (3, 3), (2, 2), (0, 0), (1, 1), True),
        ("maxpool_2x2_s2_ceil_odd", (2, 2, 7, 7), (2, 2), (2, 2), (0, 0), (1, 1), True),
        ("maxpool_ceil_last_window_in_padding", (1, 2, 5, 5), (2, 2), (2, 2), (1, 1), (1, 1), True),
        ("maxpool_dilation2", (1, 3, 9, 8), (3, 3), (1, 1), (1, 1), (2, 2), False),
        ("maxpool_asymmetric", (2, 2, 9, 6), (3, 2), (2, 1), (1, 0), (1, 1), False),
        ("maxpool_dilation_ceil", (1, 2, 10, 11), (3, 2), (2, 3), (1, 1), (2, 2), True),
    ]:
        x = randn(*shape) - 100  # all negative: a zero from padding would show
        y = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil)
        args = {"kernel_size": list(k), "stride": list(s), "padding": list(p), "dilation": list(d), "ceil_mode": ceil}
        w.case(name, "max_pool2d", args, {"input": x}, y)
    # (name, shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    for name, shape, k, s, p, ceil, cip, div in [
        ("avgpool_3x3_s2_p1_include_pad", (2, 3, 11, 13), (3, 3), (2, 2), (1, 1), False, True, None),
        ("avgpool_3x3_s2_p1_exclude_pad", (2, 3, 11, 13), (3, 3), (2, 2), (1, 1), False, False, None),
        ("avgpool_ceil_include_pad", (1, 2, 10, 7), (3, 3), (2, 2), (1, 1), True, True, None),
        ("avgpool_ceil_exclude_pad", (1, 2, 10, 7), (3, 3), (2, 2), (1, 1), True, False, None),
        ("avgpool_2x2_s2_ceil_odd", (1, 3, 7, 9), (2, 2), (2, 2), (0, 0), True, True, None),
        ("avgpool_divisor_override", (1, 2, 8, 8), (3, 3), (1, 1), (1, 1), False, True, 5),
        ("avgpool_asymmetric", (2, 2, 9, 8), (3, 2), (1, 2), (1, 1), False, True, None),
    ]:
        x = randn(*shape, scale=5)
        y = F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=cip, divisor_override=div)
        args = {"kernel_size": list(k), "stride": list(s), "padding": list(p), "ceil_mode": ceil,
                "count_include_pad": cip, "divisor_override": div}
        w.case(name, "avg_pool2d", args, {"input": x}, y)
    for (h, wd), out in [((13, 17), (7, 7)), ((5, 5), (3, 3)), ((7, 7), (1, 1)), ((9, 10), (1, 2)),
                         ((6, 6), (4, 5)), ((3, 3), (5, 5)), ((14, 14), (1, 1))]:
        x = randn(2, 4, h, wd, scale=5)
        suffix = f"{h}x{wd}_to_{out[0]}x{out[1]}"
        w.case(f"adaptive_avg_{suffix}", "adaptive_avg_pool2d", {"output_size": list(out)}, {"input": x},
               F.adaptive_avg_pool2d(x, out))
        w.case(f"adaptive_max_{suffix}", "adaptive_max_pool2d", {"output_size": list(out)}, {"input": x},
               F.adaptive_max_pool2d(x, out))


def activation_cases(w):
    special = torch.tensor([-3.0, 3.0, 0.0, 6.0, -6.0, 1e-8, -1e-8, 20.0, -20.0, 90.0, -90.0, 0.5, -0.5])
    x = torch.cat([torch.linspace(-10, 10, 2001), randn(500, scale=4), special]).reshape(2, -1)
    functions = {
        "relu": F.relu, "relu6": F.relu6, "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid,
        "silu": F.silu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "gelu": F.gelu,
    }
    for name, function in functions.items():
        w.case(f"activation_{name}", "activate", {"activation": name}, {"input": x}, function(x))
    for name, shape, dim, scale in [
        ("softmax_last", (2, 3, 5), -1, 1), ("softmax_middle", (2, 3, 5), 1, 1), ("softmax_first", (2, 3, 5), 0, 1),
        ("softmax_large_logits", (4, 10), 1, 100), ("softmax_1000_classes", (2, 1000), -1, 8),
    ]:
        x = randn(*shape, scale=scale)
        w.case(name, "softmax", {"dim": dim}, {"input": x}, torch.softmax(x, dim))


def elementwise_and_shape_cases(w):
    a, b = randn(2, 3, 4, 5), randn(2, 3, 4, 5)
    w.case("add", "add", {}, {"a": a, "b": b}, a + b)
    x, s = randn(2, 3, 4, 5), torch.sigmoid(randn(2, 3, 1, 1))
    w.case("multiply_channels", "multiply_channels", {}, {"input": x, "scale": s}, x * s)

    parts = [randn(2, c, 3, 2) for c in (1, 4, 2)]
    w.case("concat_channels", "concatenate", {"dim": 1}, {f"input{i}": t for i, t in enumerate(parts)},
           torch.cat(parts, 1))
    parts = [randn(2, 3, k) for k in (2, 5)]
    w.case("concat_last_negative", "concatenate", {"dim": -1}, {f"input{i}": t for i, t in enumerate(parts)},
           torch.cat(parts, -1))
    parts = [randn(k, 3) for k in (1, 2, 3)]
    w.case("concat_first", "concatenate", {"dim": 0}, {f"input{i}": t for i, t in enumerate(parts)},
           torch.cat(parts, 0))

    for name, shape, chunks, dim in [
        ("chunk_uneven", (2, 7, 3), 3, 1), ("chunk_fewer_pieces", (6, 2), 4, 0), ("chunk_negative_dim", (2, 3, 8), 2, -1),
        ("chunk_more_than_size", (2, 3), 5, 1),
    ]:
        x = randn(*shape)
        w.case(name, "chunk", {"chunks": chunks, "dim": dim}, {"input": x}, list(torch.chunk(x, chunks, dim)))

    for groups in (2, 3):
        x = randn(2, 6, 3, 4)
        w.case(f"channel_shuffle_g{groups}", "channel_shuffle", {"groups": groups}, {"input": x},
               F.channel_shuffle(x, groups))

    for name, shape, pad in [
        ("zeropad_positive", (2, 3, 4, 5), (1, 2, 0, 3)), ("zeropad_crop", (1, 2, 5, 6), (-1, 2, -2, 1)),
        ("zeropad_rank3", (2, 3, 3), (0, 1, 1, 0)), ("zeropad_crop_to_empty", (1, 1, 3, 3), (-2, -1, 0, 0)),
    ]:
        x = randn(*shape)
        w.case(name, "zero_pad2d", {"pad": list(pad)}, {"input": x}, torch.nn.ZeroPad2d(pad)(x))

    for start in (1, -2, 0):
        x = randn(2, 3, 4, 5)
        w.case(f"flatten_start{start}", "flatten", {"start_dim": start}, {"input": x}, torch.flatten(x, start))


def transformer_cases(w):
    """The transformer models' kernels. Written after every other case so their random draws stay as they were."""
    for name, shape, eps, affine in [
        ("layernorm_last", (2, 5, 16), 1e-6, True), ("layernorm_offset_rows", (3, 7), 1e-5, True),
        ("layernorm_no_affine", (2, 3, 4, 9), 1e-5, False),
    ]:
        x = randn(*shape, scale=3) + 5
        weight, bias = (randn(shape[-1]), randn(shape[-1])) if affine else (None, None)
        w.case(name, "layer_norm", {"eps": eps}, {"input": x, "weight": weight, "bias": bias},
               F.layer_norm(x, (shape[-1],), weight, bias, eps))
    x, weight, bias = randn(2, 6, 3, 5, scale=2) - 1, randn(6), randn(6)
    y = F.layer_norm(x.permute(0, 2, 3, 1), (6,), weight, bias, 1e-6).permute(0, 3, 1, 2)
    w.case("layernorm2d_channels", "layer_norm2d", {"eps": 1e-6}, {"input": x, "weight": weight, "bias": bias}, y)

    x = randn(2, 3, 4, 5)
    w.case("permute_0231", "permute", {"dims": [0, 2, 3, 1]}, {"input": x}, x.permute(0, 2, 3, 1))
    w.case("permute_negative", "permute", {"dims": [-1, 0, -2, 1]}, {"input": x}, x.permute(-1, 0, -2, 1))
    x = randn(2, 7, 6, 3)
    w.case("roll_hw", "roll", {"shifts": [-3, 2], "dims": [1, 2]}, {"input": x}, torch.roll(x, (-3, 2), (1, 2)))
    w.case("roll_beyond_size", "roll", {"shifts": [9], "dims": [-2]}, {"input": x}, torch.roll(x, 9, -2))
    w.case("pad_channels_last", "pad", {"pad": [0, 0, 0, 3, 1, 2]}, {"input": x}, F.pad(x, (0, 0, 0, 3, 1, 2)))
    w.case("pad_negative_crops", "pad", {"pad": [0, 0, 0, -2, 0, -3]}, {"input": x}, F.pad(x, (0, 0, 0, -2, 0, -3)))
    w.case("narrow_tokens", "narrow", {"dim": 1, "start": 2, "length": 3}, {"input": x}, x.narrow(1, 2, 3))
    small = randn(1, 1, 3)
    w.case("expand_batch", "expand", {"shape": [4, 5, 3]}, {"input": small}, small.expand(4, 5, 3))
    scale = randn(6, 1, 1)
    x = randn(2, 6, 3, 4)
    w.case("multiply_broadcast", "multiply", {}, {"a": scale, "b": x}, scale * x)
    table, index = randn(9, 4), torch.randint(0, 9, (3, 3))
    w.case("index_select_rows", "index_select", {}, {"table": table, "index": index.float()}, table[index])

    # Multi-head attention on packed [N, L, 3E] projections, as torch computes it per head.
    def reference(qkv, heads, scale, bias=None, mask=None, logit_scale=None):
        n, length, packed = qkv.shape
        q, k, v = qkv.reshape(n, length, 3, heads, packed // 3 // heads).permute(2, 0, 3, 1, 4)
        if logit_scale is not None:
            attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1) * logit_scale.view(1, heads, 1, 1)
        else:
            attn = (q @ k.transpose(-2, -1)) * scale
        if bias is not None:
            attn = attn + bias.unsqueeze(0)
        if mask is not None:
            windows = mask.shape[0]
            attn = (attn.view(n // windows, windows, heads, length, length) + mask.unsqueeze(1).unsqueeze(0)).view(
                n, heads, length, length)
        return (attn.softmax(-1) @ v).transpose(1, 2).reshape(n, length, packed // 3)

    qkv = randn(2, 5, 3 * 8, scale=2)
    w.case("attention_plain", "attention", {"heads": 2, "scale": 0.5}, {"qkv": qkv}, reference(qkv, 2, 0.5))
    # nn.MultiheadAttention itself: in_proj, the packed attention, out_proj.
    x = randn(2, 5, 8)
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    torch.nn.init.normal_(mha.in_proj_bias)
    torch.nn.init.normal_(mha.out_proj.bias)
    w.case("multihead_attention", "multihead_attention", {"heads": 2},
           {"input": x, "in_proj_weight": mha.in_proj_weight, "in_proj_bias": mha.in_proj_bias,
            "out_proj_weight": mha.out_proj.weight, "out_proj_bias": mha.out_proj.bias},
           mha(x, x, x, need_weights=False)[0])
    qkv, bias = randn(6, 4, 3 * 6, scale=2), randn(3, 4, 4)
    mask = torch.where(torch.rand(3, 4, 4) > 0.5, -100.0, 0.0)
    w.case("attention_bias_mask", "attention", {"heads": 3, "scale": 0.7},
           {"qkv": qkv, "bias": bias, "mask": mask}, reference(qkv, 3, 0.7, bias, mask))
    logit_scale = torch.tensor([10.0, 3.0, 60.0])
    w.case("attention_cosine", "attention", {"heads": 3, "scale": 1.0, "logit_scale": logit_scale.tolist()},
           {"qkv": qkv, "bias": bias}, reference(qkv, 3, 1.0, bias, logit_scale=logit_scale))


def npy_cases(w):
    """Files in other dtypes and versions, each with its float32 value (as numpy converts it)."""
    os.makedirs(os.path.join(w.out, "npy"), exist_ok=True)
    rng = np.random.default_rng(7)
    base = rng.standard_normal((2, 3)) * 100
    entries = []

    def add(name, array, version=None, expect_error=None):
        path = f"npy/{name}.npy"
        with open(os.path.join(w.out, path), "wb") as f:
            np.lib.format.write_array(f, array, version=version, allow_pickle=False)
        entry = {"file": path}
        if expect_error:
            entry["error"] = expect_error
        else:
            entry["expected"] = w.save(f"npy/{name}.expected.npy", np.asarray(array, dtype=np.float32))
        entries.append(entry)

    add("f4", base.astype("<f4"))
    add("f4_big_endian", base.astype(">f4"))
    add("f8", base.astype("<f8"))
    add("f8_big_endian", base.astype(">f8"))
    add("f2", base.astype("<f2"))
    add("i8", np.array([[-(2 ** 40), -1, 0], [1, 255, 2 ** 53 + 1]], dtype="<i8"))
    add("i8_big_endian", np.array([-5, 7, 2 ** 33], dtype=">i8"))
    add("i4", np.array([[-7, 0, 2 ** 31 - 1]], dtype="<i4"))
    add("i2", np.array([-300, 300], dtype="<i2"))
    add("i1", np.array([-128, 127], dtype="|i1"))
    add("u1", np.array([[0, 1], [128, 255]], dtype="|u1"))
    add("u2", np.array([65535, 3], dtype="<u2"))
    add("b1", np.array([[True, False, True]]))
    add("scalar", np.array(3.5, dtype="<f4"))
    add("empty", np.zeros((0, 3), dtype="<f4"))
    add("version2", base.astype("<f4"), version=(2, 0))
    add("version3", base.astype("<f4"), version=(3, 0))
    add("fortran_order", np.asfortranarray(base.astype("<f4")), expect_error="fortranOrder")
    add("complex", np.array([1 + 2j], dtype="<c8"), expect_error="unsupportedDType")
    add("structured", np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]), expect_error="unsupportedDType")
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--out", default=os.path.join(root, "Tests", "Fixtures", "kernels"))
    out = parser.parse_args().out
    # Remove only what an earlier run wrote, so a mistaken --out cannot wipe anything else.
    for folder, pattern in [(out, ".npy"), (os.path.join(out, "npy"), ".npy")]:
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.endswith(pattern):
                    os.remove(os.path.join(folder, name))
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)

    w = Writer(out)
    with torch.no_grad():
        conv_cases(w)
        linear_cases(w)
        batch_norm_cases(w)
        pool_cases(w)
        activation_cases(w)
        elementwise_and_shape_cases(w)
        transformer_cases(w)
        npy = npy_cases(w)

    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": w.cases, "npy": npy}, f, indent=1)
        f.write("\n")
    with open(os.path.abspath(__file__), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(out, "generator.sha256"), "w") as f:
        f.write(digest + "\n")
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(out) for n in names)
    print(f"{len(w.cases)} kernel cases, {len(npy)} npy files, {total / 1e6:.2f} MB in {out}")


if __name__ == "__main__":
    main()
