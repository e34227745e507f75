/// How far a model's output is from a reference: what a port needs to prove it is exact.
public struct OutputComparison: Encodable, Sendable {
    public struct Row: Encodable, Sendable {
        public let row: Int
        public let top1Agrees: Bool
        /// Size of the overlap of both top-5 sets, 0...5.
        public let top5Overlap: Int
        public let cosineSimilarity: Double
    }

    public let shape: [Int]
    public let maxAbsoluteDifference: Double
    public let maxRelativeDifference: Double
    public let cosineSimilarity: Double
    public let top1Agreement: Double
    public let atol: Double
    public let rtol: Double
    public let withinTolerance: Bool
    public let rows: [Row]

    enum CodingKeys: String, CodingKey {
        case shape, rows, atol, rtol
        case maxAbsoluteDifference = "max_abs_diff"
        case maxRelativeDifference = "max_rel_diff"
        case cosineSimilarity = "cosine_similarity"
        case top1Agreement = "top1_agreement"
        case withinTolerance = "within_tolerance"
    }

    public init(output: Tensor, reference: Tensor, atol: Double, rtol: Double) throws {
        guard output.shape == reference.shape else {
            throw RuntimeError.shapeMismatch(
                operation: "compare", expected: "reference shape \(reference.shape)", found: "output shape \(output.shape)")
        }
        shape = output.shape
        self.atol = atol
        self.rtol = rtol
        let outputValues = output.storage.array, referenceValues = reference.storage.array
        var maxAbsolute = 0.0, maxRelative = 0.0, inside = true
        for (ours, theirs) in zip(outputValues, referenceValues) {
            let difference = abs(Double(ours) - Double(theirs))
            maxAbsolute = max(maxAbsolute, difference)
            if theirs != 0 { maxRelative = max(maxRelative, difference / abs(Double(theirs))) }
            if !(difference <= atol + rtol * abs(Double(theirs))) { inside = false }
        }
        maxAbsoluteDifference = maxAbsolute
        maxRelativeDifference = maxRelative
        withinTolerance = inside
        cosineSimilarity = Self.cosine(outputValues[...], referenceValues[...])
        let width = output.shape.count >= 2 ? output.shape.last ?? 1 : output.count
        let count = width > 0 ? output.count / width : 0
        rows = (0..<count).map { row in
            let range = (row * width)..<((row + 1) * width)
            let ours = Self.topIndices(outputValues[range], 5), theirs = Self.topIndices(referenceValues[range], 5)
            return Row(
                row: row, top1Agrees: ours.first == theirs.first, top5Overlap: Set(ours).intersection(theirs).count,
                cosineSimilarity: Self.cosine(outputValues[range], referenceValues[range]))
        }
        top1Agreement = rows.isEmpty ? 1 : Double(rows.filter(\.top1Agrees).count) / Double(rows.count)
    }

    public var report: String {
        var lines = [
            "shape \(shape): max |diff| \(maxAbsoluteDifference), max relative diff \(maxRelativeDifference), "
                + "cosine similarity \(cosineSimilarity)",
        ]
        for row in rows {
            lines.append("  row \(row.row): top-1 \(row.top1Agrees ? "agrees" : "DIFFERS"), top-5 overlap \(row.top5Overlap)/5, cosine \(row.cosineSimilarity)")
        }
        lines.append(withinTolerance
            ? "PASS: within atol \(atol) + rtol \(rtol) * |reference|"
            : "FAIL: outside atol \(atol) + rtol \(rtol) * |reference|")
        return lines.joined(separator: "\n")
    }

    package static func topIndices(_ values: ArraySlice<Float>, _ count: Int) -> [Int] {
        Array(values.indices.sorted { values[$0] > values[$1] }.prefix(count).map { $0 - values.startIndex })
    }

    private static func cosine(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
        var dot = 0.0, normA = 0.0, normB = 0.0
        for (x, y) in zip(a, b) {
            dot += Double(x) * Double(y)
            normA += Double(x) * Double(x)
            normB += Double(y) * Double(y)
        }
        return normA > 0 && normB > 0 ? dot / (normA.squareRoot() * normB.squareRoot()) : (normA == normB ? 1 : 0)
    }
}
