import Foundation
import PthKitModels
import PthKitVision

/// The frozen backbone's half of transfer learning: every image through the model once, keeping the
/// input of its classifier head.
public enum FeatureExtraction {
    /// Features of `files` (preprocessed by `preprocessing`, in batches), labelled by `labels`.
    public static func extract(
        model: Module, files: [URL], labels: [Int], preprocessing: Preprocessing, batchSize: Int = 32,
        onProgress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) throws -> FeatureMatrix {
        guard files.count == labels.count else {
            throw TrainingError.invalidData("\(files.count) images but \(labels.count) labels")
        }
        var values: [Float] = []
        var columns = 0
        try preprocessing.forEachBatch(of: files, batchSize: batchSize) { batch, range in
            let features = try model.headInput(batch)
            guard features.rank == 2, features.shape[0] == range.count else {
                throw TrainingError.invalidData("the head's input has shape \(features.shape), expected [\(range.count), features]")
            }
            columns = features.shape[1]
            if values.isEmpty { values.reserveCapacity(files.count * columns) }
            values += features.storage
            onProgress(range.upperBound, files.count)
        }
        return try FeatureMatrix(columns: columns, values: values, labels: labels)
    }
}
