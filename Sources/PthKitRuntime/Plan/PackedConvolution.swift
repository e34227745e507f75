import CKernels

/// A convolution ready to run: batch norm folded in, weights packed once into the kernel's layout,
/// and the epilogue (bias, residual, activation) it applies to its own output.
final class PackedConvolution: @unchecked Sendable {
    let shape: pk_conv2d_shape
    let outputShape: [Int]
    let activation: Kernels.Activation?
    /// The layout of its residual and output (`ChannelBlockLayout` decides where they change).
    let layout: ActivationLayout
    /// The layout of its input: `layout`, but NCHW for a channel-blocked stem (a few input channels,
    /// no whole block) that reads the image as it is.
    let inputLayout: ActivationLayout
    /// Whether `run` can take the input multiplied per channel (squeeze-and-excitation's scale) by
    /// scaling its weights instead: the pointwise convolutions on channel blocks.
    let takesInputScale: Bool
    private let bias: [Float]?
    private let packed: UnsafeMutablePointer<Float>

    /// `weights` as traced, with `batchNorm` (scale and shift per output channel) folded in:
    /// w' = w * scale, b' = b * scale + shift, the arithmetic the reference path's batch norm does
    /// after the convolution, moved before it.
    init(
        _ weights: ConvolutionWeights, inputShape: [Int], batchNorm: (scale: [Float], shift: [Float])?,
        activation: Kernels.Activation?, preferChannelBlocks: Bool = false
    ) throws {
        // The geometry check of the reference kernel: one set of rules for both paths.
        let geometry = try ConvolutionShape(
            inputShape: inputShape, weight: weights.weight, bias: weights.bias, stride: weights.stride,
            padding: weights.padding, dilation: weights.dilation, groups: weights.groups)
        var weight = weights.weight.storage
        var bias = weights.bias
        if let (scale, shift) = batchNorm {
            let outputs = geometry.outputChannels
            guard scale.count == outputs, shift.count == outputs else {
                throw RuntimeError.shapeMismatch(
                    operation: "conv2d + batch_norm", expected: "\(outputs) channels",
                    found: "\(scale.count) batch norm channels")
            }
            let perChannel = weight.count / outputs
            weight.withUnsafeMutableBufferPointer { values in
                for channel in 0..<outputs {
                    for index in (channel * perChannel)..<((channel + 1) * perChannel) { values[index] *= scale[channel] }
                }
            }
            let original = bias ?? [Float](repeating: 0, count: outputs)
            bias = (0..<outputs).map { original[$0] * scale[$0] + shift[$0] }
        }
        shape = try Self.kernelShape(of: geometry)
        outputShape = [geometry.batch, geometry.outputChannels, geometry.outputHeight, geometry.outputWidth]
        self.activation = activation
        self.bias = bias
        var cShape = shape
        // A 1x1 image gains nothing from blocks: its [N, C, 1, 1] is laid out the same either way.
        let blocked = preferChannelBlocks && pk_conv2d_blocked_supported(&cShape) != 0
            && geometry.inputHeight * geometry.inputWidth > 1
        layout = blocked ? .channelBlocks : .nchw
        inputLayout = blocked && pk_conv2d_blocked_reads_nchw(&cShape) == 0 ? .channelBlocks : .nchw
        takesInputScale = blocked && pk_conv2d_blocked_takes_input_scale(&cShape) != 0
        let count = blocked ? pk_conv2d_blocked_packed_weights_count(&cShape) : pk_conv2d_packed_weights_count(&cShape)
        packed = .allocate(capacity: max(count, 1))
        weight.withUnsafeBufferPointer { weight in
            if blocked {
                pk_conv2d_blocked_pack_weights(&cShape, weight.baseAddress, packed)
            } else {
                pk_conv2d_pack_weights(&cShape, weight.baseAddress, packed)
            }
        }
    }

    deinit { packed.deallocate() }

    /// The C kernels' description of `geometry`. They count in 32-bit ints: every size must fit, as
    /// OpenBLAS's do.
    static func kernelShape(of geometry: ConvolutionShape) throws -> pk_conv2d_shape {
        func c(_ value: Int) throws -> Int32 {
            guard let narrow = Int32(exactly: value) else {
                throw RuntimeError.invalidArgument(operation: "conv2d", reason: "size \(value) exceeds the kernels' range")
            }
            return narrow
        }
        return pk_conv2d_shape(
            batch: try c(geometry.batch), in_channels: try c(geometry.inputChannels),
            in_height: try c(geometry.inputHeight), in_width: try c(geometry.inputWidth),
            out_channels: try c(geometry.outputChannels), out_height: try c(geometry.outputHeight),
            out_width: try c(geometry.outputWidth), kernel_height: try c(geometry.kernelHeight),
            kernel_width: try c(geometry.kernelWidth), stride_height: try c(geometry.strideY),
            stride_width: try c(geometry.strideX), padding_height: try c(geometry.padY),
            padding_width: try c(geometry.padX), dilation_height: try c(geometry.dilationY),
            dilation_width: try c(geometry.dilationX), groups: try c(geometry.groups))
    }

    /// `conv KxK/stride in->out [groups g]`, as plan summaries print it.
    var description: String {
        let s = shape
        return "conv \(s.kernel_height)x\(s.kernel_width)/\(s.stride_height) \(s.in_channels)->\(s.out_channels)"
            + (s.groups > 1 ? " groups \(s.groups)" : "")
            + (layout == .channelBlocks ? (inputLayout == .nchw ? " from NCHW to blocks" : " blocked") : "")
    }

    /// Where the residual of `activation(conv(x) + bias + residual)` comes from.
    enum Residual {
        case none
        case separate(Tensor)
        /// The plan moved the residual's storage into the output buffer: the sum is taken in place.
        case inOutput
    }

    /// Writes the output for `input` into `output`, which holds `outputShape`'s count of values. With
    /// `inputScale` ([N, C, 1, 1]; only where `takesInputScale`), the input is taken as multiplied by
    /// it channel by channel.
    func run(_ input: Tensor, residual: Residual, inputScale: Tensor? = nil, into output: inout [Float]) {
        var cShape = shape
        let activation = self.activation.flatMap(Kernels.kernelActivation) ?? PK_ACTIVATION_NONE
        let separate: [Float]? = if case .separate(let tensor) = residual { tensor.storage.array } else { nil }
        input.storage.withUnsafeBufferPointer { source in
            Kernels.withOptionalPointer(bias) { bias in
                Kernels.withOptionalPointer(separate) { separate in
                    output.withUnsafeMutableBufferPointer { destination in
                        let residualPointer: UnsafePointer<Float>? =
                            if case .inOutput = residual { UnsafePointer(destination.baseAddress) } else { separate }
                        // Only where `takesInputScale` (ChannelScaleFusion checks); the kernel
                        // refuses any other shape rather than drop the scale.
                        if let inputScale {
                            inputScale.storage.withUnsafeBufferPointer { factors in
                                pk_conv2d_blocked_run_scaled(
                                    &cShape, source.baseAddress, factors.baseAddress, packed, bias, residualPointer,
                                    activation, destination.baseAddress)
                            }
                        } else if layout == .channelBlocks {
                            pk_conv2d_blocked_run(
                                &cShape, source.baseAddress, packed, bias, residualPointer, activation,
                                destination.baseAddress)
                        } else {
                            pk_conv2d_run(
                                &cShape, source.baseAddress, packed, bias, residualPointer, activation,
                                destination.baseAddress)
                        }
                    }
                }
            }
        }
    }

    /// Writes the output for `input`, image by image, into `slice` of `buffer` (a concatenation's
    /// buffer; one block of the slice per image). The plan checked that the slice fits `outputShape`,
    /// and, for a channel-blocked convolution, that it is a whole number of channel blocks: there an
    /// image's output is the same run of values in either layout.
    func run(_ input: Tensor, into buffer: inout [Float], at slice: BlockSlice) {
        var cShape = shape
        cShape.batch = 1
        let blocked = layout == .channelBlocks
        let activation = self.activation.flatMap(Kernels.kernelActivation) ?? PK_ACTIVATION_NONE
        let inputCount = input.count / max(outputShape[0], 1)
        input.storage.withUnsafeBufferPointer { source in
            Kernels.withOptionalPointer(bias) { bias in
                buffer.withUnsafeMutableBufferPointer { destination in
                    guard let source = source.baseAddress, let destination = destination.baseAddress else { return }
                    for image in 0..<outputShape[0] {
                        let from = source + image * inputCount, to = destination + image * slice.stride + slice.offset
                        if blocked {
                            pk_conv2d_blocked_run(&cShape, from, packed, bias, nil, activation, to)
                        } else {
                            pk_conv2d_run(&cShape, from, packed, bias, nil, activation, to)
                        }
                    }
                }
            }
        }
    }
}
