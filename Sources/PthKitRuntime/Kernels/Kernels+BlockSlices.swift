/// The kernels of plans that keep concatenations in one buffer (`ConcatenationBuffers`): copying an
/// input into its slice of the buffer, and reading a leading slice back, as a copy or through a
/// batch norm. Internal: the plan calls them with slices it has checked against the shapes.
extension Kernels {
    /// Copies `source` (the slice's `blocks * length` values, packed) into `slice` of `buffer`.
    static func place(_ source: [Float], into buffer: inout [Float], at slice: BlockSlice) {
        source.withUnsafeBufferPointer { source in
            buffer.withUnsafeMutableBufferPointer { buffer in
                guard let from = source.baseAddress, let to = buffer.baseAddress else { return }
                copyBlocks(slice, from: from, sourceStride: slice.length, to: to + slice.offset, destinationStride: slice.stride)
            }
        }
    }

    /// `slice` of `buffer`, packed into a new array.
    static func gather(_ slice: BlockSlice, of buffer: [Float]) -> [Float] {
        var output = uninitializedBuffer(count: slice.blocks * slice.length)
        output.withUnsafeMutableBufferPointer { output in
            buffer.withUnsafeBufferPointer { buffer in
                guard let from = buffer.baseAddress, let to = output.baseAddress else { return }
                copyBlocks(slice, from: from + slice.offset, sourceStride: slice.stride, to: to, destinationStride: slice.length)
            }
        }
        return output
    }

    /// Batch norm (y = x * scale[c] + shift[c], rounded as `scaleShiftChannels` rounds) and then
    /// `activation`, of the leading `slice` of `buffer` seen as [blocks, channels, inner]: what a
    /// copy of the slice followed by those two steps gives, without the copy.
    static func scaleShift(
        _ slice: BlockSlice, of buffer: [Float], scale: [Float], shift: [Float], activation: Activation?
    ) -> [Float] {
        let (channels, count) = (scale.count, slice.blocks * slice.length)
        let inner = slice.length / max(channels, 1)
        var output = uninitializedBuffer(count: count)
        output.withUnsafeMutableBufferPointer { output in
            buffer.withUnsafeBufferPointer { buffer in
                guard let from = buffer.baseAddress, let to = output.baseAddress else { return }
                nonisolated(unsafe) let (source, destination) = (from + slice.offset, to)
                let planes = slice.blocks * channels
                forEachChunk(of: planes, work: count * (1 + (activation?.relativeCost ?? 0))) { range in
                    for plane in range {
                        let (block, c) = plane.quotientAndRemainder(dividingBy: channels)
                        let input = source + block * slice.stride + c * inner
                        let output = destination + plane * inner
                        let (a, b) = (Double(scale[c]), Double(shift[c]))
                        for i in 0..<inner { output[i] = Float(Double(input[i]) * a + b) }
                        if let activation { apply(activation, output, output, count: inner) }
                    }
                }
            }
        }
        return output
    }

    private static func copyBlocks(
        _ slice: BlockSlice, from source: UnsafePointer<Float>, sourceStride: Int, to destination: UnsafeMutablePointer<Float>,
        destinationStride: Int
    ) {
        for block in 0..<slice.blocks {
            (destination + block * destinationStride).update(from: source + block * sourceStride, count: slice.length)
        }
    }
}
