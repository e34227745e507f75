/// ShuffleNet's units as the plan runs them: `channel_shuffle(torch.cat(parts, 1), groups)`, and the
/// next unit's `chunk` of that, as one copy (`pk_interleave_channels`) from the parts straight into
/// the pieces. Run as traced, the concatenation, the shuffle and the chunk each copied every value
/// (and the next concatenation copied the passed-through half once more); they took a quarter of
/// shufflenet_v2's forward pass.
struct ShuffledConcatenations {
    /// One concatenation, its shuffle and, when the shuffle's only reader is one, the chunk of it.
    struct Fusion {
        /// The concatenated values, in order: as many as the shuffle's groups, each of one shape.
        let parts: [Int]
        /// The chunk's outputs, or the shuffle's output when no chunk alone reads it.
        let pieces: [Int]
        let pieceShape: [Int]
        /// The traced nodes the fusion replaces: the concatenation, the shuffle and the chunk.
        let replaced: [Int]
        /// The node where the fused step runs (the last replaced one).
        var runsAt: Int { replaced[replaced.count - 1] }
    }

    private(set) var fusions: [Fusion] = []

    /// The nodes every fusion replaces.
    var replacedNodes: Set<Int> { Set(fusions.flatMap(\.replaced)) }

    /// `readers[v]` lists the needed nodes that read value v.
    init(nodes: [TracedNode], shapes: [[Int]], needed: [Int], readers: [Int: [Int]], outputValue: Int) {
        var producer: [Int: Int] = [:]
        for index in needed { for value in nodes[index].outputs { producer[value] = index } }
        func onlyReader(_ value: Int) -> Int? {
            guard value != outputValue, let reading = readers[value], reading.count == 1 else { return nil }
            return reading[0]
        }
        for index in needed {
            guard case .channelShuffle(let groups) = nodes[index].operation,
                let whole = nodes[index].inputs.first, shapes[whole].count == 4,
                let concatenation = producer[whole], onlyReader(whole) == index,
                case .concatenate(let dim) = nodes[concatenation].operation, dim == 1 || dim == -3
            else { continue }
            let parts = nodes[concatenation].inputs
            guard groups > 1, parts.count == groups, parts.allSatisfy({ shapes[$0] == shapes[parts[0]] }) else { continue }
            let shuffled = nodes[index].outputs[0]
            if let chunk = onlyReader(shuffled), case let .chunk(chunks, chunkDim) = nodes[chunk].operation,
                chunkDim == 1 || chunkDim == -3, chunks > 0, shapes[shuffled][1] % chunks == 0,
                nodes[chunk].outputs.count == chunks
            {
                fusions.append(Fusion(
                    parts: parts, pieces: nodes[chunk].outputs, pieceShape: shapes[nodes[chunk].outputs[0]],
                    replaced: [concatenation, index, chunk]))
            } else {
                fusions.append(Fusion(parts: parts, pieces: [shuffled], pieceShape: shapes[shuffled], replaced: [concatenation, index]))
            }
        }
    }
}
