extension Kernels {
    /// Depthwise convolution as a direct loop over output rows. Columns whose taps all fall inside
    /// the input (the interior) are computed apart from the few border columns, which test each tap.
    /// The common layers (undilated 3x3 and 5x5 at stride 1 or 2, rows of eight interior columns or
    /// more) take eight columns per step; the rest take one pass per kernel row. Both sum in the
    /// same order, so the result does not depend on the path. Each plane gets its activation, if
    /// any, while it is in cache.
    static func depthwiseConvolution(
        _ s: ConvolutionShape, _ source: UnsafePointer<Float>, _ weights: UnsafePointer<Float>,
        _ bias: [Float]?, _ activation: Activation?, _ destination: UnsafeMutablePointer<Float>
    ) {
        let planes = s.batch * s.outputChannels
        // Valid output columns per kernel column, and kernel rows per output row, do not depend on
        // the channel.
        let columnRanges = (0..<s.kernelWidth).map { kx in
            validOutputRange(
                offset: kx * s.dilationX - s.padX, stride: s.strideX, inputCount: s.inputWidth,
                outputCount: s.outputWidth)
        }
        let rowRanges = (0..<s.outputHeight).map { oy in
            validOutputRange(
                offset: oy * s.strideY - s.padY, stride: s.dilationY, inputCount: s.inputHeight,
                outputCount: s.kernelHeight)
        }
        let interior = columnRanges.dropFirst().reduce(columnRanges[0]) { $0.clamped(to: $1) }
        // Border columns with the kernel columns that stay inside the input, a contiguous run.
        let border = (Array(0..<interior.lowerBound) + Array(interior.upperBound..<s.outputWidth)).map { ox in
            let inside = (0..<s.kernelWidth).filter { columnRanges[$0].contains(ox) }
            return (ox, (inside.first ?? 0)..<((inside.last ?? -1) + 1))
        }
        let vectorized = s.kernelHeight == s.kernelWidth && (s.kernelWidth == 3 || s.kernelWidth == 5)
            && s.dilationY == 1 && s.dilationX == 1 && s.strideX <= 2 && interior.count >= 8
        // Planes are disjoint, so chunks may run on several threads at once.
        nonisolated(unsafe) let source = source, weights = weights, destination = destination
        @Sendable func convolve(plane: Int) {
            let channel = plane % s.outputChannels
            let input = source + plane * s.inputPlane
            let output = destination + plane * s.outputPlane
            let kernel = weights + channel * s.kernelArea
            let initial = bias?[channel] ?? 0
            for oy in 0..<s.outputHeight {
                let outputRow = output + oy * s.outputWidth
                let top = oy * s.strideY - s.padY
                let kernelRows = rowRanges[oy]
                if vectorized {
                    switch (s.kernelWidth, s.strideX) {
                    case (3, 1): interiorRow(outputRow, input, top, kernelRows, kernel, initial, s, interior, size: 3, stride: 1)
                    case (3, _): interiorRow(outputRow, input, top, kernelRows, kernel, initial, s, interior, size: 3, stride: 2)
                    case (5, 1): interiorRow(outputRow, input, top, kernelRows, kernel, initial, s, interior, size: 5, stride: 1)
                    default: interiorRow(outputRow, input, top, kernelRows, kernel, initial, s, interior, size: 5, stride: 2)
                    }
                } else if !interior.isEmpty {
                    (outputRow + interior.lowerBound).update(repeating: initial, count: interior.count)
                    if s.kernelHeight == 3 && s.kernelWidth == 3 && kernelRows.count == 3 {
                        accumulate3x3(outputRow, input + top * s.inputWidth, kernel, s, interior)
                    } else {
                        for ky in kernelRows {
                            let inputRow = input + (top + ky * s.dilationY) * s.inputWidth
                            accumulateRow(outputRow, inputRow, kernel + ky * s.kernelWidth, s, interior)
                        }
                    }
                }
            }
            for (ox, kernelColumns) in border {
                borderColumn(output, input, kernel, initial, s, ox, kernelColumns, rowRanges)
            }
            if let activation { apply(activation, output, output, count: s.outputPlane) }
        }
        forEachChunk(of: planes, work: planes * s.outputPlane * s.kernelArea) { planeRange in
            for plane in planeRange { convolve(plane: plane) }
        }
    }

    /// Output column `ox` (a border column: `kernelColumns` are the kernel columns inside the input)
    /// of every row, each summed tap by tap from the bias. A column has only a few taps per row, so
    /// a row alone is bound by the latency of its chain of additions; four rows' chains advance
    /// side by side where their kernel rows are all inside the input.
    @inline(__always)
    private static func borderColumn(
        _ output: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, _ kernel: UnsafePointer<Float>,
        _ initial: Float, _ s: ConvolutionShape, _ ox: Int, _ kernelColumns: Range<Int>, _ rowRanges: [Range<Int>]
    ) {
        let column = input + (ox &* s.strideX &- s.padX)
        let rowStep = s.strideY &* s.inputWidth
        var oy = 0
        while oy < s.outputHeight {
            let kernelRows = rowRanges[oy]
            let top = oy &* s.strideY &- s.padY
            if oy &+ 4 <= s.outputHeight && kernelRows.count == s.kernelHeight
                && rowRanges[oy &+ 3].count == s.kernelHeight {
                // Full kernel rows form one run of output rows, so the rows between are full too.
                var sum = SIMD4<Float>(repeating: initial)
                for ky in 0..<s.kernelHeight {
                    let inputRow = column + (top &+ ky &* s.dilationY) &* s.inputWidth
                    let taps = kernel + ky &* s.kernelWidth
                    var kx = kernelColumns.lowerBound
                    while kx < kernelColumns.upperBound {
                        let x = inputRow + kx &* s.dilationX
                        sum += taps[kx] * SIMD4(x[0], x[rowStep], x[2 &* rowStep], x[3 &* rowStep])
                        kx &+= 1
                    }
                }
                for lane in 0..<4 { output[(oy &+ lane) &* s.outputWidth &+ ox] = sum[lane] }
                oy &+= 4
                continue
            }
            var sum = initial
            var ky = kernelRows.lowerBound
            while ky < kernelRows.upperBound {
                let inputRow = column + (top &+ ky &* s.dilationY) &* s.inputWidth
                let taps = kernel + ky &* s.kernelWidth
                var kx = kernelColumns.lowerBound
                while kx < kernelColumns.upperBound {
                    sum += taps[kx] * inputRow[kx &* s.dilationX]
                    kx &+= 1
                }
                ky &+= 1
            }
            output[oy &* s.outputWidth &+ ox] = sum
            oy &+= 1
        }
    }

    /// The interior columns of one output row of an undilated `size` x `size` kernel, eight at a
    /// time, in the scalar loops' order: bias + (all nine products) when a 3x3 kernel has all its
    /// rows inside the input (`accumulate3x3`), otherwise bias + row sum, + row sum, ... kernel row
    /// by kernel row (`accumulateRow`). Each step writes its columns from the bias and the input
    /// alone, so the last step may overlap the one before it instead of leaving a scalar tail;
    /// `columns` holds at least eight. Called with constant sizes, so that the tap loops unroll.
    @inline(__always)
    private static func interiorRow(
        _ out: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, _ top: Int, _ kernelRows: Range<Int>,
        _ taps: UnsafePointer<Float>, _ initial: Float, _ s: ConvolutionShape, _ columns: Range<Int>,
        size: Int, stride: Int
    ) {
        let bias = SIMD8<Float>(repeating: initial)
        let allRows = size == 3 && kernelRows.count == 3
        var ox = columns.lowerBound
        while true {
            let start = min(ox, columns.upperBound &- 8)
            let first = input + (top &* s.inputWidth &+ start &* stride &- s.padX)
            var value: SIMD8<Float>
            if allRows {
                var sum = tapRow(first, taps, width: 3, stride: stride, onto: nil)
                sum = tapRow(first + s.inputWidth, taps + 3, width: 3, stride: stride, onto: sum)
                sum = tapRow(first + 2 &* s.inputWidth, taps + 6, width: 3, stride: stride, onto: sum)
                value = bias + sum
            } else {
                value = bias
                var ky = kernelRows.lowerBound
                while ky < kernelRows.upperBound {
                    value += tapRow(first + ky &* s.inputWidth, taps + ky &* size, width: size, stride: stride, onto: nil)
                    ky &+= 1
                }
            }
            UnsafeMutableRawPointer(out + start).storeBytes(of: value, as: SIMD8<Float>.self)
            guard start &+ 8 < columns.upperBound else { return }
            ox = start &+ 8
        }
    }

    /// For eight consecutive output columns whose first tap reads `row[0]`: `sum` (when given) +
    /// taps[0] * x0 + taps[1] * x1 + ..., added left to right as the scalar loops add, where xk
    /// are the values tap k reads at `stride` 1 or 2; `width` is 3 or 5.
    @inline(__always)
    private static func tapRow(
        _ row: UnsafePointer<Float>, _ taps: UnsafePointer<Float>, width: Int, stride: Int, onto sum: SIMD8<Float>?
    ) -> SIMD8<Float> {
        // Spelled out: a loop over the taps is not unrolled, and its iterator costs more than the sums.
        let first = taps[0] * lanes(row, tap: 0, stride: stride)
        var total = sum.map { $0 + first } ?? first
        total += taps[1] * lanes(row, tap: 1, stride: stride)
        total += taps[2] * lanes(row, tap: 2, stride: stride)
        if width == 5 {
            total += taps[3] * lanes(row, tap: 3, stride: stride)
            total += taps[4] * lanes(row, tap: 4, stride: stride)
        }
        return total
    }

    /// row[kx], row[kx + stride], ..., eight values. At stride 2 they are the even or odd lanes of
    /// 16 consecutive values, loaded so as never to read past row[14 + kx] for kx >= 1, the last
    /// value that tap uses (tap 0 reads row[15], which tap 1 uses).
    @inline(__always)
    private static func lanes(_ row: UnsafePointer<Float>, tap kx: Int, stride: Int) -> SIMD8<Float> {
        guard stride == 2 else { return UnsafeRawPointer(row + kx).loadUnaligned(as: SIMD8<Float>.self) }
        let wide = UnsafeRawPointer(row + max(kx - 1, 0)).loadUnaligned(as: SIMD16<Float>.self)
        return kx == 0 ? wide.evenHalf : wide.oddHalf
    }

    /// All nine taps of a 3x3 kernel in one pass over the interior columns of an output row whose
    /// three input rows, starting at `rows`, are all inside the input.
    @inline(__always)
    private static func accumulate3x3(
        _ out: UnsafeMutablePointer<Float>, _ rows: UnsafePointer<Float>, _ taps: UnsafePointer<Float>,
        _ s: ConvolutionShape, _ columns: Range<Int>
    ) {
        let (stride, step, offset) = (s.strideX, s.dilationX, -s.padX)
        let r0 = rows, r1 = rows + s.dilationY * s.inputWidth, r2 = rows + 2 * s.dilationY * s.inputWidth
        let (a0, a1, a2, b0, b1, b2) = (taps[0], taps[1], taps[2], taps[3], taps[4], taps[5])
        let (c0, c1, c2) = (taps[6], taps[7], taps[8])
        for ox in columns {
            let i = ox &* stride &+ offset, j = i &+ step, k = i &+ 2 &* step
            out[ox] += a0 * r0[i] + a1 * r0[j] + a2 * r0[k] + b0 * r1[i] + b1 * r1[j] + b2 * r1[k]
                + c0 * r2[i] + c1 * r2[j] + c2 * r2[k]
        }
    }

    /// out[ox] += sum over kx of taps[kx] * row[ox * strideX + kx * dilationX - padX], for columns
    /// where every index is inside the row.
    @inline(__always)
    private static func accumulateRow(
        _ out: UnsafeMutablePointer<Float>, _ row: UnsafePointer<Float>, _ taps: UnsafePointer<Float>,
        _ s: ConvolutionShape, _ columns: Range<Int>
    ) {
        let (stride, step, offset) = (s.strideX, s.dilationX, -s.padX)
        switch s.kernelWidth {
        case 3:
            let (t0, t1, t2) = (taps[0], taps[1], taps[2])
            if stride == 1 && step == 1 {
                for ox in columns {
                    let i = ox &+ offset
                    out[ox] += t0 * row[i] + t1 * row[i &+ 1] + t2 * row[i &+ 2]
                }
            } else {
                for ox in columns {
                    let i = ox &* stride &+ offset
                    out[ox] += t0 * row[i] + t1 * row[i &+ step] + t2 * row[i &+ 2 &* step]
                }
            }
        case 5:
            let (t0, t1, t2, t3, t4) = (taps[0], taps[1], taps[2], taps[3], taps[4])
            if stride == 1 && step == 1 {
                for ox in columns {
                    let i = ox &+ offset
                    out[ox] += t0 * row[i] + t1 * row[i &+ 1] + t2 * row[i &+ 2] + t3 * row[i &+ 3] + t4 * row[i &+ 4]
                }
            } else {
                for ox in columns {
                    let i = ox &* stride &+ offset
                    out[ox] += t0 * row[i] + t1 * row[i &+ step] + t2 * row[i &+ 2 &* step]
                        + t3 * row[i &+ 3 &* step] + t4 * row[i &+ 4 &* step]
                }
            }
        default:
            for kx in 0..<s.kernelWidth {
                let tap = taps[kx], shifted = offset &+ kx &* step
                for ox in columns { out[ox] += tap * row[ox &* stride &+ shifted] }
            }
        }
    }
}
