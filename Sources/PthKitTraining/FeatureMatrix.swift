/// Rows of head-input features with their class indices: what a new classifier head learns from.
public struct FeatureMatrix: Sendable {
    public let rows: Int
    public let columns: Int
    /// Row-major `rows x columns` values.
    public let values: [Float]
    public let labels: [Int]

    public init(columns: Int, values: [Float], labels: [Int]) throws {
        guard columns > 0, values.count == labels.count * columns else {
            throw TrainingError.invalidData("\(values.count) feature values do not make \(labels.count) rows of \(columns)")
        }
        rows = labels.count
        self.columns = columns
        self.values = values
        self.labels = labels
    }

    /// The rows at `indices`, in that order.
    public func selecting(_ indices: [Int]) throws -> FeatureMatrix {
        var selected = [Float]()
        selected.reserveCapacity(indices.count * columns)
        for row in indices { selected += values[(row * columns)..<((row + 1) * columns)] }
        return try FeatureMatrix(columns: columns, values: selected, labels: indices.map { labels[$0] })
    }
}

public enum TrainingError: Error, CustomStringConvertible {
    case invalidData(String)
    case invalidSetting(String)

    public var description: String {
        switch self {
        case .invalidData(let reason): return "training data: \(reason)"
        case .invalidSetting(let reason): return "training setting: \(reason)"
        }
    }
}
