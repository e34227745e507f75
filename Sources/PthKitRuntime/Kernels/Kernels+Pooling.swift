import CKernels

extension Kernels {
    /// `torch.nn.functional.max_pool2d` on [N, C, H, W] (or [C, H, W]). Padding counts as -inf:
    /// windows are clipped to the input. A NaN in a window wins, as in ATen.
    public static func maxPool2d(
        _ input: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
        dilation: (Int, Int), ceilMode: Bool
    ) throws -> Tensor {
        let pool = try PoolShape(
            "max_pool2d", input, kernel: kernel, stride: stride, padding: padding, dilation: dilation,
            ceilMode: ceilMode)
        if let tracer = PlanTracer.recording {
            let replay: @Sendable ([Tensor]) throws -> [Tensor] = {
                [try maxPool2d($0[0], kernel: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)]
            }
            // Named for the plan, which can run it on channel-blocked activations.
            if input.rank == 4, let shape = pool.kernelShape {
                return try tracer.record(.maxPool(shape), [input], compute: replay)[0]
            }
            return try traced("max_pool2d", [input], replay)[0]
        }
        return pool.windowMaximum(input)
    }

    /// `torch.nn.functional.avg_pool2d`, summing in float32 row by row and dividing once, as
    /// ATen's kernel does (which makes it bit-exact).
    public static func avgPool2d(
        _ input: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
        ceilMode: Bool, countIncludePad: Bool, divisorOverride: Int?
    ) throws -> Tensor {
        if PlanTracer.recording != nil {
            return try traced("avg_pool2d", input) {
                try avgPool2d(
                    $0, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode,
                    countIncludePad: countIncludePad, divisorOverride: divisorOverride)
            }
        }
        if divisorOverride == 0 {
            throw RuntimeError.invalidArgument(operation: "avg_pool2d", reason: "divisor_override must not be zero")
        }
        let pool = try PoolShape(
            "avg_pool2d", input, kernel: kernel, stride: stride, padding: padding, dilation: (1, 1),
            ceilMode: ceilMode)
        return pool.windowAverage(input) { rows, columns in
            divisorOverride ?? (countIncludePad ? rows.paddedCount * columns.paddedCount : rows.count * columns.count)
        }
    }

    /// `torch.nn.functional.adaptive_avg_pool2d`. Output cell i covers input rows
    /// floor(i*H/out) ..< ceil((i+1)*H/out), likewise for columns.
    public static func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int)) throws -> Tensor {
        if let tracer = PlanTracer.recording {
            // Named for the plan, which can run it on channel-blocked activations.
            if input.rank == 4 && outputSize == (1, 1) {
                return try tracer.record(.globalAveragePool, [input]) {
                    [try adaptiveAvgPool2d($0[0], outputSize: outputSize)]
                }[0]
            }
            return try traced("adaptive_avg_pool2d", input) { try adaptiveAvgPool2d($0, outputSize: outputSize) }
        }
        let pool = try PoolShape("adaptive_avg_pool2d", input, outputSize: outputSize)
        if pool.outputHeight == 1 && pool.outputWidth == 1 {
            // torch computes this case as `mean` over H and W: a cascaded float sum, then one
            // division. A float64 sum rounded once lands within an ulp of it.
            return pool.planeMean(input)
        }
        // ATen divides by the height, then by the width.
        return pool.binAverage(input) { sum, rows, columns in sum / Float(rows.count) / Float(columns.count) }
    }

    /// `torch.nn.functional.adaptive_max_pool2d` with the bins of `adaptiveAvgPool2d`.
    public static func adaptiveMaxPool2d(_ input: Tensor, outputSize: (Int, Int)) throws -> Tensor {
        if PlanTracer.recording != nil {
            return try traced("adaptive_max_pool2d", input) { try adaptiveMaxPool2d($0, outputSize: outputSize) }
        }
        let pool = try PoolShape("adaptive_max_pool2d", input, outputSize: outputSize)
        return pool.binMaximum(input)
    }
}

/// The validated geometry of a 2-d pooling over the planes of [N, C, H, W] or [C, H, W], with the
/// input span of every output row and column worked out once.
struct PoolShape {
    /// The input indices `start..<end` one output row (or column) averages over; `paddedCount` is
    /// the window's length clipped to the padded input, count_include_pad's divisor.
    struct Window {
        var start, end, paddedCount: Int
        var count: Int { end - start }
    }

    let leadingShape: [Int]
    let planes, height, width: Int
    let outputHeight, outputWidth: Int
    let kernelY, kernelX, strideY, strideX, padY, padX, dilationY, dilationX: Int
    let rows, columns: [Window]

    /// Windowed pooling, with the checks and output-size rule of ATen's `pool2d_shape_check`.
    init(
        _ op: String, _ input: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
        dilation: (Int, Int), ceilMode: Bool
    ) throws {
        (leadingShape, planes, height, width) = try Self.planes(op, input)
        let limit = Kernels.maxExtent
        for (value, name) in [(kernel.0, "kernel size"), (kernel.1, "kernel size"), (stride.0, "stride"),
                              (stride.1, "stride"), (dilation.0, "dilation"), (dilation.1, "dilation")] {
            try Kernels.requireArgument(value, name, in: 1...limit, op)
        }
        for (pad, size) in [(padding.0, kernel.0), (padding.1, kernel.1)] where pad < 0 || pad > size / 2 {
            throw RuntimeError.invalidArgument(
                operation: op, reason: "padding \(pad) must be between 0 and half the kernel size \(size)")
        }
        outputHeight = Self.outputSize(height, kernel.0, padding.0, stride.0, dilation.0, ceilMode)
        outputWidth = Self.outputSize(width, kernel.1, padding.1, stride.1, dilation.1, ceilMode)
        guard outputHeight >= 1, outputWidth >= 1 else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "an input large enough for at least one window",
                found: "input \(height)x\(width) giving output \(outputHeight)x\(outputWidth)")
        }
        _ = try Kernels.resultShape(leadingShape + [outputHeight, outputWidth], op)
        (kernelY, kernelX, strideY, strideX) = (kernel.0, kernel.1, stride.0, stride.1)
        (padY, padX, dilationY, dilationX) = (padding.0, padding.1, dilation.0, dilation.1)
        rows = Self.windows(outputHeight, height, kernel.0, stride.0, padding.0)
        columns = Self.windows(outputWidth, width, kernel.1, stride.1, padding.1)
    }

    /// Adaptive pooling to a fixed output size.
    init(_ op: String, _ input: Tensor, outputSize: (Int, Int)) throws {
        (leadingShape, planes, height, width) = try Self.planes(op, input)
        try Kernels.requireArgument(outputSize.0, "output size", in: 0...Kernels.maxExtent, op)
        try Kernels.requireArgument(outputSize.1, "output size", in: 0...Kernels.maxExtent, op)
        (outputHeight, outputWidth) = outputSize
        _ = try Kernels.resultShape(leadingShape + [outputHeight, outputWidth], op)
        (kernelY, kernelX, strideY, strideX, padY, padX, dilationY, dilationX) = (1, 1, 1, 1, 0, 0, 1, 1)
        rows = Self.bins(outputHeight, height)
        columns = Self.bins(outputWidth, width)
    }

    private static func planes(_ op: String, _ input: Tensor) throws -> ([Int], Int, Int, Int) {
        try Kernels.requireConsistent(input, op)
        guard input.rank == 3 || input.rank == 4 else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "input [N, C, H, W] or [C, H, W]", found: "shape \(input.shape)")
        }
        guard input.shape.suffix(3).allSatisfy({ $0 > 0 }) else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "non-zero channels, height and width", found: "shape \(input.shape)")
        }
        let (height, width) = (input.shape[input.rank - 2], input.shape[input.rank - 1])
        return (Array(input.shape.dropLast(2)), input.count / (height * width), height, width)
    }

    /// ATen's `pooling_output_shape`: with ceil_mode the last window must still start inside the
    /// input or its left padding.
    static func outputSize(_ input: Int, _ kernel: Int, _ pad: Int, _ stride: Int, _ dilation: Int, _ ceilMode: Bool) -> Int {
        let span = input + 2 * pad - dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0)
        var size = Kernels.floorDivide(span, stride) + 1
        if ceilMode && (size - 1) * stride >= input + pad { size -= 1 }
        return size
    }

    /// Avg-pool windows (dilation 1) clipped to the input, with their size in the padded input.
    private static func windows(_ outputs: Int, _ input: Int, _ kernel: Int, _ stride: Int, _ pad: Int) -> [Window] {
        (0..<outputs).map { o in
            let first = o * stride - pad, paddedEnd = min(first + kernel, input + pad)
            let start = max(first, 0)
            return Window(start: start, end: max(min(paddedEnd, input), start), paddedCount: paddedEnd - first)
        }
    }

    /// Adaptive bins: floor(i * input / outputs) ..< ceil((i + 1) * input / outputs).
    private static func bins(_ outputs: Int, _ input: Int) -> [Window] {
        (0..<outputs).map { o in
            let start = o * input / outputs, end = Kernels.ceilDivide((o + 1) * input, outputs)
            return Window(start: start, end: end, paddedCount: end - start)
        }
    }

    /// The C kernels' geometry, or nil when a size does not fit its 32-bit fields.
    var kernelShape: pk_pool2d_shape? {
        let fields = [planes, height, width, outputHeight, outputWidth, kernelY, kernelX, strideY, strideX, padY, padX,
                      dilationY, dilationX]
        guard fields.allSatisfy({ $0 <= Int(Int32.max) }) else { return nil }
        return pk_pool2d_shape(
            images: Int32(leadingShape.count >= 2 ? leadingShape[0] : 1), planes: Int32(planes), in_height: Int32(height),
            in_width: Int32(width), out_height: Int32(outputHeight), out_width: Int32(outputWidth),
            kernel_height: Int32(kernelY), kernel_width: Int32(kernelX), stride_height: Int32(strideY),
            stride_width: Int32(strideX), padding_height: Int32(padY), padding_width: Int32(padX),
            dilation_height: Int32(dilationY), dilation_width: Int32(dilationX))
    }

    /// Max pooling: max over each window, NaN winning as in ATen (`val > max || isnan(val)`). The C
    /// kernel (vectorized along rows) takes every geometry whose sizes fit its 32-bit fields.
    func windowMaximum(_ input: Tensor) -> Tensor {
        if var shape = kernelShape {
            var output = Kernels.uninitializedBuffer(count: planes * outputHeight * outputWidth)
            input.storage.withUnsafeBufferPointer { source in
                output.withUnsafeMutableBufferPointer { destination in
                    pk_max_pool2d(&shape, source.baseAddress, destination.baseAddress)
                }
            }
            return Tensor(shape: leadingShape + [outputHeight, outputWidth], storage: output)
        }
        return produce(input) { plane, output in
            // `value != value` is isNaN in a form that compiles to a vector compare.
            accumulateWindows(plane, output, initial: -.infinity) { kept, value in
                value > kept || value != value ? value : kept
            }
        }
    }

    /// Average pooling: float32 window sums, each divided by `divisor(rows, columns)`.
    func windowAverage(_ input: Tensor, divisor: (Window, Window) -> Int) -> Tensor {
        produce(input) { plane, output in
            accumulateWindows(plane, output, initial: 0, +)
            for (oy, rowWindow) in rows.enumerated() {
                for (ox, columnWindow) in columns.enumerated() {
                    // A window of padding only gives 0, as in ATen.
                    let empty = rowWindow.count <= 0 || columnWindow.count <= 0
                    output[oy * outputWidth + ox] = empty ? 0
                        : output[oy * outputWidth + ox] / Float(divisor(rowWindow, columnWindow))
                }
            }
        }
    }

    /// Folds every input value of each output's window into it, tap by tap in the window's
    /// row-major order (ATen's order, so float sums agree bit for bit). Taps run over whole output
    /// rows, which makes the stride-1 case a vector loop.
    @inline(__always)
    private func accumulateWindows(
        _ plane: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, initial: Float,
        _ combine: (Float, Float) -> Float
    ) {
        output.update(repeating: initial, count: outputHeight * outputWidth)
        for oy in 0..<outputHeight {
            let outputRow = output + oy * outputWidth
            for ky in 0..<kernelY {
                let iy = oy * strideY - padY + ky * dilationY
                guard iy >= 0 && iy < height else { continue }
                for kx in 0..<kernelX {
                    let offset = kx * dilationX - padX
                    let inputRow = plane + iy * width + offset
                    let valid = Kernels.validOutputRange(
                        offset: offset, stride: strideX, inputCount: width, outputCount: outputWidth)
                    if strideX == 1 {
                        for ox in valid { outputRow[ox] = combine(outputRow[ox], inputRow[ox]) }
                    } else {
                        for ox in valid { outputRow[ox] = combine(outputRow[ox], inputRow[ox &* strideX]) }
                    }
                }
            }
        }
    }

    /// Adaptive max: max over each bin.
    func binMaximum(_ input: Tensor) -> Tensor {
        produce(input) { plane, output in
            for (oy, rowBin) in rows.enumerated() {
                for (ox, columnBin) in columns.enumerated() {
                    var maximum = -Float.infinity
                    for iy in rowBin.start..<rowBin.end {
                        for ix in columnBin.start..<columnBin.end {
                            let value = plane[iy * width + ix]
                            if value > maximum || value.isNaN { maximum = value }
                        }
                    }
                    output[oy * outputWidth + ox] = maximum
                }
            }
        }
    }

    /// Adaptive average: float32 sum over each bin in row-major order, then `finish(sum, rows, columns)`.
    func binAverage(_ input: Tensor, _ finish: (Float, Window, Window) -> Float) -> Tensor {
        produce(input) { plane, output in
            for (oy, rowBin) in rows.enumerated() {
                for (ox, columnBin) in columns.enumerated() {
                    var sum: Float = 0
                    for iy in rowBin.start..<rowBin.end {
                        for ix in columnBin.start..<columnBin.end { sum += plane[iy * width + ix] }
                    }
                    output[oy * outputWidth + ox] = finish(sum, rowBin, columnBin)
                }
            }
        }
    }

    func planeMean(_ input: Tensor) -> Tensor {
        let count = height * width
        return produce(input) { plane, output in
            var sum: Double = 0
            for i in 0..<count { sum += Double(plane[i]) }
            output[0] = Float(sum) / Float(count)
        }
    }

    /// Runs `body(inputPlane, outputPlane)` for every plane, planes split across the compute
    /// threads (each writes only its own output plane, so the result does not depend on the split).
    private func produce(_ input: Tensor, _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        let outputPlane = outputHeight * outputWidth, inputPlane = height * width
        var output = Kernels.uninitializedBuffer(count: planes * outputPlane)
        input.storage.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                guard let source = source.baseAddress, let destination = destination.baseAddress else { return }
                // The bodies only read the shape and their own planes.
                nonisolated(unsafe) let (input, output, run) = (source, destination, body)
                Kernels.forEachChunk(of: planes, work: planes * inputPlane) { range in
                    for index in range { run(input + index * inputPlane, output + index * outputPlane) }
                }
            }
        }
        return Tensor(shape: leadingShape + [outputHeight, outputWidth], storage: output)
    }
}
