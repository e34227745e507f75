import CKernels

/// How a plan builds concatenations without copying them again and again.
///
/// DenseNet concatenates, before every layer of a block, all feature maps of the block so far
/// (`torch.cat(prev_features, 1)`), and the whole list once more at the end: copied out each time,
/// that is quadratic in the block's depth. Here every concatenation whose inputs are a prefix of a
/// longer one's (a *view*) shares that longer one's (the *root*'s) output buffer: each input is
/// placed into its slice of the root's buffer once, right after it is computed, and a view is read
/// straight out of the leading slices. A view whose only reader is a batch norm (and activation),
/// as in every dense layer, is read by that batch norm in place of a copy.
/// Concatenations that no longer one extends (Inception, SqueezeNet, ShuffleNet) are roots too:
/// their inputs are placed as they are produced, so each input's buffer is free as soon as it is.
struct ConcatenationBuffers {
    /// Where to copy a value: into `root`'s buffer at `slice`.
    struct Placement {
        let root: Int
        let slice: BlockSlice
        let rootShape: [Int]
    }

    /// A view of the leading part of `root`'s buffer (the value of a shorter concatenation).
    struct View {
        let root: Int
        let slice: BlockSlice
        let shape: [Int]
        let axis: Int
    }

    /// Values -> where to copy them once they are computed (one value may go to several places).
    private(set) var placements: [Int: [Placement]] = [:]
    /// Node index of a view concatenation -> the part of its root it reads.
    private(set) var views: [Int: View] = [:]
    /// Node indices of root concatenations: their value is built by placements, not by a step.
    private(set) var roots: Set<Int> = []

    /// Whether the buffer `root` (a value) can be held in channel blocks: every part a whole number of
    /// blocks along the channels, and no view reading it (views read NCHW).
    func holdsBlocks(_ root: Int) -> Bool {
        let parts = placements.values.joined().filter { $0.root == root }
        return !parts.isEmpty && parts.allSatisfy { $0.slice.isWholeChannelBlocks(of: $0.rootShape) }
            && !views.values.contains { $0.root == root }
    }

    init(nodes: [TracedNode], shapes: [[Int]], needed: [Int]) {
        let concatenations = needed.compactMap { index -> (index: Int, axis: Int)? in
            guard case .concatenate(let dim) = nodes[index].operation, let first = nodes[index].inputs.first else { return nil }
            let rank = shapes[first].count
            guard rank >= 1, (-rank..<rank).contains(dim) else { return nil }
            return (index, dim < 0 ? dim + rank : dim)
        }
        func extends(_ longer: (index: Int, axis: Int), _ shorter: (index: Int, axis: Int)) -> Bool {
            let (a, b) = (nodes[longer.index].inputs, nodes[shorter.index].inputs)
            return longer.axis == shorter.axis && a.count > b.count && Array(a.prefix(b.count)) == b
        }
        for concatenation in concatenations {
            // The longest concatenation this one is a prefix of, if any.
            let root = concatenations.filter { extends($0, concatenation) }
                .max { nodes[$0.index].inputs.count < nodes[$1.index].inputs.count }
            if let root {
                let inputs = nodes[concatenation.index].inputs
                let output = nodes[concatenation.index].outputs[0]
                views[concatenation.index] = View(
                    root: nodes[root.index].outputs[0],
                    slice: Self.slice(of: inputs, in: nodes[root.index].outputs[0], offsetBy: 0, shapes, concatenation.axis),
                    shape: shapes[output], axis: concatenation.axis)
                continue
            }
            roots.insert(concatenation.index)
            let output = nodes[concatenation.index].outputs[0]
            var offset = 0
            for part in nodes[concatenation.index].inputs {
                let slice = Self.slice(of: [part], in: output, offsetBy: offset, shapes, concatenation.axis)
                placements[part, default: []].append(Placement(root: output, slice: slice, rootShape: shapes[output]))
                offset += shapes[part][concatenation.axis]
            }
        }
    }

    /// The slice that `parts`, concatenated along `axis` starting at index `offset`, take in `root`.
    private static func slice(of parts: [Int], in root: Int, offsetBy offset: Int, _ shapes: [[Int]], _ axis: Int) -> BlockSlice {
        let rootShape = shapes[root]
        let inner = rootShape.dropFirst(axis + 1).reduce(1, *)
        let extent = parts.reduce(0) { $0 + shapes[$1][axis] }
        return BlockSlice(
            blocks: rootShape.prefix(axis).reduce(1, *), length: extent * inner, stride: rootShape[axis] * inner,
            offset: offset * inner)
    }
}

/// `blocks` runs of `length` values, `stride` apart, starting at `offset`: the part of a buffer that one
/// input of a concatenation takes (one run per index of the dimensions before the concatenated one).
struct BlockSlice: Equatable {
    let blocks: Int, length: Int, stride: Int, offset: Int

    /// Values of the buffer the slice lies in.
    var bufferCount: Int { blocks * stride }

    /// Whether the slice is a whole number of channel blocks of a 4-D buffer of `rootShape`, along its
    /// channels: then it is the same runs of values in either layout ([N][C][H][W] and
    /// [N][C/8][H][W][8] both put channel c of image n at (n * C + c) * H * W).
    func isWholeChannelBlocks(of rootShape: [Int]) -> Bool {
        guard rootShape.count == 4 else { return false }
        let plane = rootShape[2] * rootShape[3], block = Int(PK_CHANNEL_BLOCK) * plane
        return plane > 1 && rootShape[1] % Int(PK_CHANNEL_BLOCK) == 0 && blocks == rootShape[0]
            && stride == rootShape[1] * plane && offset % block == 0 && length % block == 0
    }
}
