import PthKitModels

/// A seeded, stratified train/validation split: each class gives the same share of its images to
/// validation, so a small class is never left out of either side.
public enum DatasetSplit {
    /// Indices into `labels` for training and for validation. Each class with at least two images
    /// puts `round(count * fraction)` of them (at least one, never all) into validation.
    public static func stratified(labels: [Int], validationFraction: Double, seed: UInt64) throws -> (train: [Int], validation: [Int]) {
        guard (0..<1).contains(validationFraction) else {
            throw TrainingError.invalidSetting("the validation split must be in [0, 1), not \(validationFraction)")
        }
        guard validationFraction > 0 else { return (Array(labels.indices), []) }
        var generator = SplitMix64(state: seed ^ 0x5350_4C49_5421)  // the split's own stream
        var byClass: [Int: [Int]] = [:]
        for (index, label) in labels.enumerated() { byClass[label, default: []].append(index) }
        var train: [Int] = [], validation: [Int] = []
        for label in byClass.keys.sorted() {
            var members = byClass[label] ?? []
            generator.shuffle(&members)
            let share = members.count < 2 ? 0 : min(members.count - 1, max(1, Int((Double(members.count) * validationFraction).rounded())))
            validation += members.prefix(share)
            train += members.dropFirst(share)
        }
        return (train.sorted(), validation.sorted())
    }
}
