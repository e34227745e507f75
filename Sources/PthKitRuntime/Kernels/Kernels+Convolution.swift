import PthKitSupport

extension Kernels {
    /// `torch.nn.functional.conv2d`: input [N, C_in, H, W], weight [C_out, C_in/groups, kH, kW],
    /// bias of C_out values or nil; then `activation`, if given, applied to each output while it is
    /// still in cache (the same values as a separate `activate` pass).
    ///
    /// Three paths: a direct loop for depthwise convolutions (groups == C_in == C_out; in
    /// `Kernels+DepthwiseConvolution.swift`), one sgemm straight on the input for
    /// 1x1/stride-1/unpadded convolutions, and im2col + sgemm per image and group for everything else.
    public static func conv2d(
        _ input: Tensor, weight: Tensor, bias: [Float]?,
        stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int,
        activation: Activation? = nil
    ) throws -> Tensor {
        if PlanTracer.recording != nil {
            return try traced("conv2d", [input, weight]) {
                [try conv2d(
                    $0[0], weight: $0[1], bias: bias, stride: stride, padding: padding, dilation: dilation,
                    groups: groups, activation: activation)]
            }[0]
        }
        let shape = try ConvolutionShape(
            input: input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
            groups: groups)
        let count = shape.batch * shape.outputChannels * shape.outputPlane
        // Every path writes every output value, so the buffer starts uninitialized.
        let output = [Float](emptySafeUninitializedCapacity: count) { destination, initialized in
            initialized = count
            guard count > 0 else { return }
            input.storage.withUnsafeBufferPointer { source in
                weight.storage.withUnsafeBufferPointer { weights in
                    let source = source.baseAddress!, weights = weights.baseAddress!
                    if shape.isDepthwise {
                        depthwiseConvolution(shape, source, weights, bias, activation, destination.baseAddress!)
                    } else {
                        gemmConvolution(shape, source, weights, bias, activation, destination.baseAddress!)
                    }
                }
            }
        }
        return Tensor(
            shape: [shape.batch, shape.outputChannels, shape.outputHeight, shape.outputWidth], storage: output)
    }
}

/// The validated geometry of one conv2d call; every loop bound derives from it.
package struct ConvolutionShape {
    package let batch, inputChannels, inputHeight, inputWidth: Int
    package let outputChannels, kernelHeight, kernelWidth, groups: Int
    let strideY, strideX, padY, padX, dilationY, dilationX: Int
    package let outputHeight, outputWidth: Int

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

    package init(
        input: Tensor, weight: Tensor, bias: [Float]?,
        stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int
    ) throws {
        try Kernels.requireConsistent(input, "conv2d")
        try self.init(
            inputShape: input.shape, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
            groups: groups)
    }

    /// The geometry for an input of `inputShape`, before any input exists (a plan being compiled).
    init(
        inputShape: [Int], weight: Tensor, bias: [Float]?,
        stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int
    ) throws {
        let op = "conv2d"
        guard inputShape.count == 4 else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "input of rank 4 [N, C_in, H, W]", found: "shape \(inputShape)")
        }
        for dimension in inputShape where dimension < 0 || dimension > Kernels.maxExtent {
            throw RuntimeError.invalidArgument(operation: op, reason: "input dimension \(dimension) is out of range")
        }
        try Kernels.require(weight, rank: 4, op, "weight", layout: "[C_out, C_in/groups, kH, kW]")
        try Kernels.requireArgument(groups, "groups", in: 1...Kernels.maxExtent, op)
        try Kernels.requireArgument(stride.0, "stride", in: 1...Kernels.maxExtent, op)
        try Kernels.requireArgument(stride.1, "stride", in: 1...Kernels.maxExtent, op)
        try Kernels.requireArgument(dilation.0, "dilation", in: 1...Kernels.maxExtent, op)
        try Kernels.requireArgument(dilation.1, "dilation", in: 1...Kernels.maxExtent, op)
        try Kernels.requireArgument(padding.0, "padding", in: 0...Kernels.maxExtent, op)
        try Kernels.requireArgument(padding.1, "padding", in: 0...Kernels.maxExtent, op)

        (batch, inputChannels, inputHeight, inputWidth) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        (outputChannels, kernelHeight, kernelWidth) = (weight.shape[0], weight.shape[2], weight.shape[3])
        self.groups = groups
        (strideY, strideX, padY, padX) = (stride.0, stride.1, padding.0, padding.1)
        (dilationY, dilationX) = (dilation.0, dilation.1)

        guard inputChannels > 0, inputHeight > 0, inputWidth > 0 else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "input with non-zero channels, height and width", found: "shape \(inputShape)")
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
                found: "weight shape \(weight.shape) for input shape \(inputShape) and groups \(groups)")
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
    /// General convolution: per image and group, C[outC/g, OH*OW] = W[outC/g, K] * col[K, OH*OW],
    /// where col is the im2col matrix (or, for 1x1/stride-1/unpadded, the input itself). The im2col
    /// matrix is built a band of output rows at a time, small enough to stay in cache while sgemm
    /// reads it.
    fileprivate static func gemmConvolution(
        _ s: ConvolutionShape, _ source: UnsafePointer<Float>, _ weights: UnsafePointer<Float>,
        _ bias: [Float]?, _ activation: Activation?, _ destination: UnsafeMutablePointer<Float>
    ) {
        let rows = s.outputChannelsPerGroup, patch = s.patchLength, plane = s.outputPlane
        let bandHeight = s.isPointwise ? s.outputHeight
            : min(s.outputHeight, max(1, im2colBandFloats / (patch * s.outputWidth)))
        // One scratch per call keeps concurrent forward passes independent.
        let scratch: UnsafeMutablePointer<Float>? =
            s.isPointwise ? nil : .allocate(capacity: patch * bandHeight * s.outputWidth)
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
                let groupWeights = weights + group * rows * patch
                let groupOutput = outputImage + group * rows * plane
                guard let scratch else {
                    multiply(
                        m: rows, n: plane, k: patch, groupWeights, lda: patch, inputGroup, ldb: plane,
                        accumulate: bias != nil, groupOutput, ldc: plane, activation: activation)
                    continue
                }
                for top in stride(from: 0, to: s.outputHeight, by: bandHeight) {
                    let band = top..<min(top + bandHeight, s.outputHeight)
                    let bandColumns = band.count * s.outputWidth
                    // Channels fill disjoint rows of the scratch, so they can be unfolded in parallel.
                    nonisolated(unsafe) let (input, output) = (inputGroup, scratch)
                    forEachChunk(of: s.inputChannelsPerGroup, work: patch * bandColumns) { channels in
                        im2col(s, input, output, channels: channels, band: band)
                    }
                    multiply(
                        m: rows, n: bandColumns, k: patch, groupWeights, lda: patch, scratch, ldb: bandColumns,
                        accumulate: bias != nil, groupOutput + top * s.outputWidth, ldc: plane, activation: activation)
                }
            }
        }
    }

    /// Floats of im2col scratch per band: about 1 MB, which keeps sgemm's reads in cache.
    static let im2colBandFloats = 1 << 18

    /// Unfolds `channels` of one group of one image, for the output rows `band`, into their rows of
    /// the [C_in/groups * kH * kW, band.count * OW] matrix `columns`, zeros where a tap reads
    /// padding. Filled by output row, so that stride-1 taps are plain copies.
    private static func im2col(
        _ s: ConvolutionShape, _ input: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>,
        channels: Range<Int>, band: Range<Int>
    ) {
        let width = s.outputWidth, bandColumns = band.count * width
        var row = columns + channels.lowerBound * s.kernelArea * bandColumns
        for channel in channels {
            let inputChannel = input + channel * s.inputPlane
            for ky in 0..<s.kernelHeight {
                for kx in 0..<s.kernelWidth {
                    let offset = kx * s.dilationX - s.padX
                    let valid = validOutputRange(
                        offset: offset, stride: s.strideX, inputCount: s.inputWidth, outputCount: width)
                    for oy in band {
                        let target = row + (oy - band.lowerBound) * width
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
                            for ox in valid { target[ox] = inputRow[ox &* s.strideX] }
                        }
                        (target + valid.upperBound).update(repeating: 0, count: width - valid.upperBound)
                    }
                    row += bandColumns
                }
            }
        }
    }
}
