import Foundation
import PthKit
import Testing

/// One case of Tests/Fixtures/kernels/cases.json, written by Scripts/make_kernel_fixtures.py.
struct KernelCase: Decodable, Sendable, CustomTestStringConvertible {
    struct Arguments: Decodable, Sendable {
        var stride, padding, dilation, kernelSize, outputSize, pad, dims, shifts, shape: [Int]?
        var groups, dim, chunks, startDim, divisorOverride, heads, start, length: Int?
        var ceilMode, countIncludePad, transposeA, transposeB: Bool?
        var eps, scale: Double?
        var logitScale: [Float]?
        var activation: String?
    }

    /// A role's file, or several for results that are lists (chunk).
    enum Files: Decodable, Sendable {
        case one(String), many([String])
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let many = try? container.decode([String].self) { self = .many(many) } else { self = .one(try container.decode(String.self)) }
        }
        var paths: [String] {
            switch self {
            case let .one(path): [path]
            case let .many(paths): paths
            }
        }
    }

    let name: String
    let kernel: String
    let args: Arguments
    let tensors: [String: Files]

    var testDescription: String { name }

    static let folder = Fixtures.url("kernels")

    struct Index: Decodable {
        let cases: [KernelCase]
    }

    static func load() throws -> [KernelCase] {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let data = try Data(contentsOf: folder.appendingPathComponent("cases.json"))
        return try decoder.decode(Index.self, from: data).cases
    }

    func tensor(_ role: String) throws -> Tensor {
        guard case let .one(path)? = tensors[role] else { throw FixtureError("\(name) has no tensor '\(role)'") }
        return try NPY.read(contentsOf: Self.folder.appendingPathComponent(path))
    }

    func optionalValues(_ role: String) throws -> [Float]? {
        tensors[role] == nil ? nil : try tensor(role).storage.array
    }

    func expected() throws -> [Tensor] {
        try (tensors["expected"]?.paths ?? []).map { try NPY.read(contentsOf: Self.folder.appendingPathComponent($0)) }
    }
}

@Suite("Kernels match PyTorch")
struct KernelOracleTests {
    static let cases = (try? KernelCase.load()) ?? []

    @Test func fixturesArePresentAndCurrent() throws {
        let cases = try KernelCase.load()
        #expect(cases.count > 50)
        let covered = Set(cases.map(\.kernel))
        #expect(covered.isSuperset(of: [
            "conv2d", "linear", "matmul", "batch_norm", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
            "adaptive_max_pool2d", "activate", "softmax", "add", "multiply_channels", "concatenate", "chunk",
            "channel_shuffle", "zero_pad2d", "flatten", "layer_norm", "layer_norm2d", "permute", "roll", "pad", "narrow",
            "expand", "multiply", "index_select", "attention", "multihead_attention",
        ]))
        // The stamp is Scripts/test.sh's: sha256 of the generator followed by the pinned oracle
        // requirements. A mismatch means either changed since the fixtures were made; rerun it.
        let scripts = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Scripts")
        let stamp = try String(contentsOf: KernelCase.folder.appendingPathComponent("generator.sha256"), encoding: .utf8)
        let digest = SHA256.hexDigest(try ["make_kernel_fixtures.py", "requirements-oracle.txt"].flatMap {
            [UInt8](try Data(contentsOf: scripts.appendingPathComponent($0)))
        })
        #expect(stamp.trimmingCharacters(in: .whitespacesAndNewlines) == digest,
                "fixtures are older than Scripts/make_kernel_fixtures.py: rerun it")
    }

    @Test(arguments: cases)
    func matchesPyTorch(_ kernelCase: KernelCase) throws {
        let outputs = try Self.run(kernelCase)
        let expected = try kernelCase.expected()
        try #require(outputs.count == expected.count, "\(outputs.count) outputs, expected \(expected.count)")
        for (output, reference) in zip(outputs, expected) {
            try #require(output.shape == reference.shape)
            let tolerance = Self.tolerance(kernelCase)
            let error = Self.maxAbsoluteDifference(output, reference)
            let scale = max(1, reference.storage.lazy.map { abs($0) }.max() ?? 0)
            if ProcessInfo.processInfo.environment["PTHKIT_PRINT_KERNEL_ERRORS"] == "1" {
                print("kernel-error \(kernelCase.name) max_abs=\(error) scaled=\(error / scale)")
            }
            if let tolerance {
                #expect(error <= tolerance * scale, "max |PthKit - PyTorch| = \(error), bound \(tolerance * scale)")
            } else {
                let mismatches = zip(output.storage, reference.storage).filter { !Self.bitEqual($0, $1) }.count
                #expect(mismatches == 0, "\(mismatches) values differ from PyTorch (max |diff| \(error))")
            }
        }
    }

    /// nil: bit-exact. Otherwise the bound on max |diff| / max(1, max |expected|). Reductions in a
    /// different order than PyTorch's (BLAS, oneDNN, libm) get a tolerance; the rest must be exact.
    static func tolerance(_ kernelCase: KernelCase) -> Float? {
        switch kernelCase.kernel {
        case "conv2d", "linear", "matmul", "attention", "multihead_attention", "layer_norm", "layer_norm2d": return 1e-5
        case "adaptive_avg_pool2d" where kernelCase.args.outputSize == [1, 1]: return 1e-6
        case "softmax": return 1e-6
        case "activate":
            switch kernelCase.args.activation {
            case "relu", "relu6", "hardswish", "hardsigmoid": return nil
            default: return 1e-6
            }
        default: return nil
        }
    }

    static func run(_ c: KernelCase) throws -> [Tensor] {
        let a = c.args
        func pair(_ values: [Int]?) throws -> (Int, Int) {
            guard let values, values.count == 2 else { throw FixtureError("\(c.name): expected a pair") }
            return (values[0], values[1])
        }
        switch c.kernel {
        case "conv2d":
            return [try Kernels.conv2d(
                c.tensor("input"), weight: c.tensor("weight"), bias: c.optionalValues("bias"),
                stride: pair(a.stride), padding: pair(a.padding), dilation: pair(a.dilation), groups: a.groups ?? 1)]
        case "linear":
            return [try Kernels.linear(c.tensor("input"), weight: c.tensor("weight"), bias: c.optionalValues("bias"))]
        case "matmul":
            return [try Kernels.matmul(
                c.tensor("a"), c.tensor("b"), transposeA: a.transposeA ?? false, transposeB: a.transposeB ?? false)]
        case "batch_norm":
            let (scale, shift) = Kernels.batchNormScaleShift(
                mean: try c.tensor("mean").storage.array, variance: try c.tensor("variance").storage.array,
                weight: try c.optionalValues("weight"), bias: try c.optionalValues("bias"), eps: a.eps ?? 1e-5)
            var x = try c.tensor("input")
            try Kernels.scaleShiftChannels(&x, scale: scale, shift: shift)
            return [x]
        case "max_pool2d":
            return [try Kernels.maxPool2d(
                c.tensor("input"), kernel: pair(a.kernelSize), stride: pair(a.stride), padding: pair(a.padding),
                dilation: pair(a.dilation), ceilMode: a.ceilMode ?? false)]
        case "avg_pool2d":
            return [try Kernels.avgPool2d(
                c.tensor("input"), kernel: pair(a.kernelSize), stride: pair(a.stride), padding: pair(a.padding),
                ceilMode: a.ceilMode ?? false, countIncludePad: a.countIncludePad ?? true,
                divisorOverride: a.divisorOverride)]
        case "adaptive_avg_pool2d":
            return [try Kernels.adaptiveAvgPool2d(c.tensor("input"), outputSize: pair(a.outputSize))]
        case "adaptive_max_pool2d":
            return [try Kernels.adaptiveMaxPool2d(c.tensor("input"), outputSize: pair(a.outputSize))]
        case "activate":
            let activations: [String: Kernels.Activation] = [
                "relu": .relu, "relu6": .relu6, "hardswish": .hardswish, "hardsigmoid": .hardsigmoid,
                "silu": .silu, "sigmoid": .sigmoid, "tanh": .tanh, "gelu": .gelu,
            ]
            guard let activation = activations[a.activation ?? ""] else { throw FixtureError("\(c.name): activation") }
            var x = try c.tensor("input")
            Kernels.activate(&x, activation)
            return [x]
        case "softmax":
            return [try Kernels.softmax(c.tensor("input"), dim: a.dim ?? -1)]
        case "add":
            return [try Kernels.add(c.tensor("a"), c.tensor("b"))]
        case "multiply_channels":
            return [try Kernels.multiplyChannels(c.tensor("input"), by: c.tensor("scale"))]
        case "concatenate":
            let inputs = try (0...).lazy.map { "input\($0)" }.prefix { c.tensors[$0] != nil }.map { try c.tensor($0) }
            return [try Kernels.concatenate(Array(inputs), dim: a.dim ?? 0)]
        case "chunk":
            return try Kernels.chunk(c.tensor("input"), chunks: a.chunks ?? 1, dim: a.dim ?? 0)
        case "channel_shuffle":
            return [try Kernels.channelShuffle(c.tensor("input"), groups: a.groups ?? 1)]
        case "zero_pad2d":
            guard let pad = a.pad, pad.count == 4 else { throw FixtureError("\(c.name): pad") }
            return [try Kernels.zeroPad2d(c.tensor("input"), left: pad[0], right: pad[1], top: pad[2], bottom: pad[3])]
        case "flatten":
            return [try Kernels.flatten(c.tensor("input"), startDim: a.startDim ?? 0)]
        case "layer_norm":
            return [try Kernels.layerNorm(
                c.tensor("input"), weight: c.optionalValues("weight"), bias: c.optionalValues("bias"), eps: a.eps ?? 1e-5)]
        case "layer_norm2d":
            return [try Kernels.layerNormChannels(
                c.tensor("input"), weight: c.optionalValues("weight"), bias: c.optionalValues("bias"), eps: a.eps ?? 1e-5)]
        case "permute":
            return [try Kernels.permute(c.tensor("input"), a.dims ?? [])]
        case "roll":
            return [try Kernels.roll(c.tensor("input"), shifts: a.shifts ?? [], dims: a.dims ?? [])]
        case "pad":
            return [try Kernels.pad(c.tensor("input"), a.pad ?? [])]
        case "narrow":
            return [try Kernels.narrow(c.tensor("input"), dim: a.dim ?? 0, start: a.start ?? 0, length: a.length ?? 0)]
        case "expand":
            return [try Kernels.expand(c.tensor("input"), to: a.shape ?? [])]
        case "multiply":
            return [try Kernels.multiply(c.tensor("a"), c.tensor("b"))]
        case "index_select":
            return [try Kernels.indexSelect(c.tensor("table"), index: c.tensor("index"))]
        case "attention":
            return [try Kernels.attention(
                packed: c.tensor("qkv"), heads: a.heads ?? 1, scale: Float(a.scale ?? 1),
                bias: c.tensors["bias"] == nil ? nil : c.tensor("bias"), mask: c.tensors["mask"] == nil ? nil : c.tensor("mask"),
                logitScale: a.logitScale)]
        case "multihead_attention":
            let x = try c.tensor("input"), heads = a.heads ?? 1
            let attention = try MultiheadAttention(x.shape.last ?? 0, heads)
            attention.inProjWeight.value = try c.tensor("in_proj_weight")
            attention.inProjBias?.value = try c.tensor("in_proj_bias")
            attention.outProj.weight.value = try c.tensor("out_proj_weight")
            attention.outProj.bias?.value = try c.tensor("out_proj_bias")
            return [try attention.referenceForward(x)]
        default:
            throw FixtureError("\(c.name): unknown kernel \(c.kernel)")
        }
    }

    static func maxAbsoluteDifference(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.storage, b.storage).reduce(0) { worst, pair in
            bitEqual(pair.0, pair.1) ? worst : max(worst, pair.0.isNaN || pair.1.isNaN ? .infinity : abs(pair.0 - pair.1))
        }
    }

    /// Equal values, or both NaN (-0 equals +0, as torch.equal has it).
    static func bitEqual(_ a: Float, _ b: Float) -> Bool { a == b || (a.isNaN && b.isNaN) }
}
