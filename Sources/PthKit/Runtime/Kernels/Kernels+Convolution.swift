import COpenBLAS
import Dispatch
import Foundation

extension Kernels {
    /// `torch.nn.functional.conv2d`: input [N, C_in, H, W], weight [C_out, C_in/groups, kH, kW],
    /// bias of C_out values or nil.
    ///
    /// Three paths: a direct loop for depthwise convolutions (groups == C_in == C_out), one sgemm
    /// straight on the input for 1x1/stride-1/unpadded convolutions, and im2col + sgemm per image
    /// and group for everything else.
    public static func conv2d(
        _ input: Tensor, weight: Tensor, bias: [Float]?,
        stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int
    ) throws -> Tensor {
        let shape = try ConvolutionShape(
            input: input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
            groups: groups)
        var output = [Float](repeating: 0, count: shape.batch * shape.outputChannels * shape.outputPlane)
        if shape.batch > 0 {
            input.storage.withUnsafeBufferPointer { source in
                weight.storage.withUnsafeBufferPointer { weights in
                    output.withUnsafeMutableBufferPointer { destination in
                        let source = source.baseAddress!, weights = weights.baseAddress!
                        let destination = destination.baseAddress!
                        if shape.isDepthwise {
                            depthwiseConvolution(shape, source, weights, bias, destination)
                        } else {
                            gemmConvolution(shape, source, weights, bias, destination)
                        }
                    }
                }
            }
        }
        return Tensor(
            shape: [shape.batch, shape.outputChannels, shape.outputHeight, shape.outputWidth], storage: output)
    }
}

/// The validated geometry of one conv2d call; every loop bound derives from it.
struct ConvolutionShape {
    let batch, inputChannels, inputHeight, inputWidth: Int
    let outputChannels, kernelHeight, kernelWidth, groups: Int
    let strideY, strideX, padY, padX, dilationY, dilationX: Int
    let outputHeight, outputWidth: Int

    var inputPlane: Int { inputHeight * inputWidth }
    var outputPlane: Int { outputHeight * outputWidth }
    var inputChannelsPerGroup: Int { inputChannels / groups }
    var outputChannelsPerGroup: Int { outputChannels / groups }
    var kernelArea: Int { kernelHeight * kernelWidth }
    /// Rows of the im2col matrix: one per (input channel of the group, kernel tap).
    var patchLength: Int { inputChannelsPerGroup * kernelArea }

    var isDepthwise: Bool { groups == inputChannels && groups == outputChannels }
    var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideY == 1 && strideX == 1 && padY == 0 && padX == 0
    }

    init(
        input: Tensor, weight: Tensor, bias: [Float]?,
        stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int
    ) throws {
        let op = "conv2d"
        try Kernels.require(input, rank: 4, op, layout: "[N, C_in, H, W]")
        try Kernels.require(weight, rank: 4, op, "weight", layout: "[C_out, C_in/groups, kH, kW]")
        try Kernels.requireArgument(groups, "groups", in: 1...Kernels.maxExtent, op)
        try Kernels.requireArgument(stride.0, "stride", in: 1...Kernels.maxExtent, op)
        try Kernels.requireArgument(stride.1, "stride", in: 1...Kernels.maxExtent, op)
        try Kernels.requireArgument(dilation.0, "dilation", in: 1...Kernels.maxExtent, op)
        try Kernels.requireArgument(dilation.1, "dilation", in: 1...Kernels.maxExtent, op)
        try Kernels.requireArgument(padding.0, "padding", in: 0...Kernels.maxExtent, op)
        try Kernels.requireArgument(padding.1, "padding", in: 0...Kernels.maxExtent, op)

        (batch, inputChannels, inputHeight, inputWidth) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        (outputChannels, kernelHeight, kernelWidth) = (weight.shape[0], weight.shape[2], weight.shape[3])
        self.groups = groups
        (strideY, strideX, padY, padX) = (stride.0, stride.1, padding.0, padding.1)
        (dilationY, dilationX) = (dilation.0, dilation.1)

        guard inputChannels > 0, inputHeight > 0, inputWidth > 0 else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "input with non-zero channels, height and width", found: "shape \(input.shape)")
        }
        guard outputChannels > 0, kernelHeight > 0, kernelWidth > 0 else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "weight with non-zero sizes", found: "shape \(weight.shape)")
        }
        guard inputChannels % groups == 0, outputChannels % groups == 0 else {
            throw RuntimeError.invalidArgument(
                operation: op,
                reason: "groups \(groups) must divide input channels \(inputChannels) and output channels \(outputChannels)")
        }
        guard weight.shape[1] == inputChannels / groups else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "weight with \(inputChannels / groups) input channels per group",
                found: "weight shape \(weight.shape) for input shape \(input.shape) and groups \(groups)")
        }
        if let bias, bias.count != outputChannels {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "bias of \(outputChannels) values", found: "\(bias.count) values")
        }
        // torch: the padded input must hold at least one dilated kernel window.
        let spanY = dilationY * (kernelHeight - 1) + 1, spanX = dilationX * (kernelWidth - 1) + 1
        let paddedY = inputHeight + 2 * padY, paddedX = inputWidth + 2 * padX
        guard paddedY >= spanY, paddedX >= spanX else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "padded input (\(paddedY)x\(paddedX)) at least the dilated kernel size",
                found: "kernel span \(spanY)x\(spanX)")
        }
        outputHeight = (paddedY - spanY) / strideY + 1
        outputWidth = (paddedX - spanX) / strideX + 1
        // The product bounds every buffer the paths allocate (output and im2col scratch).
        _ = try Kernels.resultShape([batch, outputChannels, outputHeight, outputWidth], op)
        if !isDepthwise && !isPointwise {
            _ = try Kernels.resultShape([patchLength, outputPlane], op)
        }
        try Kernels.requireBLASSizes([patchLength, outputPlane, outputChannelsPerGroup], op)
    }
}

extension Kernels {
    /// Depthwise convolution as a direct loop: every output row accumulates, tap by tap, a row of
    /// the input scaled by one weight. For stride 1 the inner loop is a contiguous axpy.
    fileprivate static func depthwiseConvolution(
        _ s: ConvolutionShape, _ source: UnsafePointer<Float>, _ weights: UnsafePointer<Float>,
        _ bias: [Float]?, _ destination: UnsafeMutablePointer<Float>
    ) {
        let planes = s.batch * s.outputChannels
        let kernelArea = s.kernelArea
        // Valid output columns per kernel column do not depend on the row or channel.
        let columnRanges = (0..<s.kernelWidth).map { kx in
            validOutputRange(
                offset: kx * s.dilationX - s.padX, stride: s.strideX, inputCount: s.inputWidth,
                outputCount: s.outputWidth)
        }
        func convolve(plane: Int) {
            let channel = plane % s.outputChannels
            let input = source + plane * s.inputPlane
            let output = destination + plane * s.outputPlane
            let kernel = weights + channel * kernelArea
            output.update(repeating: bias?[channel] ?? 0, count: s.outputPlane)
            for oy in 0..<s.outputHeight {
                let outputRow = output + oy * s.outputWidth
                for ky in 0..<s.kernelHeight {
                    let iy = oy * s.strideY - s.padY + ky * s.dilationY
                    guard iy >= 0 && iy < s.inputHeight else { continue }
                    let inputRow = input + iy * s.inputWidth
                    for kx in 0..<s.kernelWidth {
                        let tap = kernel[ky * s.kernelWidth + kx]
                        let offset = kx * s.dilationX - s.padX
                        let columns = columnRanges[kx]
                        if s.strideX == 1 {
                            let shifted = inputRow + offset
                            for ox in columns { outputRow[ox] += tap * shifted[ox] }
                        } else {
                            for ox in columns { outputRow[ox] += tap * inputRow[ox * s.strideX + offset] }
                        }
                    }
                }
            }
        }
        let work = planes * s.outputPlane * kernelArea
        forEachChunk(of: planes, work: work) { planeRange in
            for plane in planeRange { convolve(plane: plane) }
        }
    }

    /// General convolution: per image and group, C[outC/g, OH*OW] = W[outC/g, K] * col[K, OH*OW],
    /// where col is the im2col matrix (or, for 1x1/stride-1/unpadded, the input itself).
    fileprivate static func gemmConvolution(
        _ s: ConvolutionShape, _ source: UnsafePointer<Float>, _ weights: UnsafePointer<Float>,
        _ bias: [Float]?, _ destination: UnsafeMutablePointer<Float>
    ) {
        let rows = s.outputChannelsPerGroup, patch = s.patchLength, plane = s.outputPlane
        // One scratch per call keeps concurrent forward passes independent.
        let scratch: UnsafeMutablePointer<Float>? =
            s.isPointwise ? nil : .allocate(capacity: patch * plane)
        defer { scratch?.deallocate() }
        for image in 0..<s.batch {
            let outputImage = destination + image * s.outputChannels * plane
            if let bias {
                for channel in 0..<s.outputChannels {
                    (outputImage + channel * plane).update(repeating: bias[channel], count: plane)
                }
            }
            for group in 0..<s.groups {
                let inputGroup = source + (image * s.inputChannels + group * s.inputChannelsPerGroup) * s.inputPlane
                let columns: UnsafePointer<Float>
                if let scratch {
                    im2col(s, inputGroup, scratch)
                    columns = UnsafePointer(scratch)
                } else {
                    columns = inputGroup
                }
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasNoTrans,
                    Int32(rows), Int32(plane), Int32(patch),
                    1, weights + group * rows * patch, Int32(patch),
                    columns, Int32(plane),
                    bias == nil ? 0 : 1, outputImage + group * rows * plane, Int32(plane))
            }
        }
    }

    /// Unfolds one group of one image into [C_in/groups * kH * kW, OH * OW], zeros where a tap
    /// reads padding. Rows are filled by output row so that stride-1 taps are plain copies.
    private static func im2col(_ s: ConvolutionShape, _ input: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>) {
        let plane = s.outputPlane, width = s.outputWidth
        var row = columns
        for channel in 0..<s.inputChannelsPerGroup {
            let inputChannel = input + channel * s.inputPlane
            for ky in 0..<s.kernelHeight {
                for kx in 0..<s.kernelWidth {
                    let offset = kx * s.dilationX - s.padX
                    let valid = validOutputRange(
                        offset: offset, stride: s.strideX, inputCount: s.inputWidth, outputCount: width)
                    for oy in 0..<s.outputHeight {
                        let target = row + oy * width
                        let iy = oy * s.strideY - s.padY + ky * s.dilationY
                        guard iy >= 0 && iy < s.inputHeight, !valid.isEmpty else {
                            target.update(repeating: 0, count: width)
                            continue
                        }
                        target.update(repeating: 0, count: valid.lowerBound)
                        let inputRow = inputChannel + iy * s.inputWidth + offset
                        if s.strideX == 1 {
                            (target + valid.lowerBound).update(from: inputRow + valid.lowerBound, count: valid.count)
                        } else {
                            for ox in valid { target[ox] = inputRow[ox * s.strideX] }
                        }
                        (target + valid.upperBound).update(repeating: 0, count: width - valid.upperBound)
                    }
                    row += plane
                }
            }
        }
    }

    /// Runs `body` over `0..<count` split into a few chunks across cores when `work` (multiply-adds)
    /// is big enough to pay for the dispatch; otherwise inline.
    static func forEachChunk(of count: Int, work: Int, _ body: (Range<Int>) -> Void) {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard work >= 1 << 18, count > 1, cores > 1 else {
            body(0..<count)
            return
        }
        let chunks = min(count, cores * 4)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            body((chunk * count / chunks)..<((chunk + 1) * count / chunks))
        }
    }
}
