import Foundation
import PthKit
@testable import PthKitTraining
import Testing

/// The head trainer's arithmetic against PyTorch's optimizers (Tests/Fixtures/training, made by
/// Scripts/make_training_fixtures.py), and its bookkeeping.
@Suite("Head training")
struct HeadTrainingTests {
    struct Problem {
        let data: FeatureMatrix
        let weight: [Float], bias: [Float], classes: Int
        let batches: [[Int]]
        let cases: [[String: Any]]
    }

    static func problem() throws -> Problem {
        let object = try Fixtures.json(Fixtures.url("training/optimizer_steps.json"))
        func floats(_ value: Any?) throws -> [Float] {
            guard let numbers = value as? [NSNumber] else { throw FixtureError("optimizer_steps.json lacks a number list") }
            return numbers.map(\.floatValue)
        }
        guard let columns = object["columns"] as? Int, let classes = object["classes"] as? Int,
              let labels = object["labels"] as? [Int], let batches = object["batches"] as? [[Int]],
              let cases = object["cases"] as? [[String: Any]] else { throw FixtureError("optimizer_steps.json is incomplete") }
        return Problem(
            data: try FeatureMatrix(columns: columns, values: floats(object["features"]), labels: labels),
            weight: try floats(object["weight"]), bias: try floats(object["bias"]), classes: classes, batches: batches,
            cases: cases)
    }

    /// Same start, same batches: every step's loss and the final parameters match PyTorch's.
    @Test func optimizerStepsMatchPyTorch() throws {
        let problem = try Self.problem()
        #expect(problem.cases.count == 4)
        for entry in problem.cases {
            let name = entry["name"] as? String ?? ""
            let learningRate = (entry["lr"] as? NSNumber)?.floatValue ?? 0
            let weightDecay = (entry["weight_decay"] as? NSNumber)?.floatValue ?? 0
            let optimizer: OptimizerKind = name == "sgd"
                ? .sgd(momentum: (entry["momentum"] as? NSNumber)?.floatValue ?? 0) : OptimizerKind.adamDefaults
            let trainer = try LinearHeadTrainer(
                weight: problem.weight, bias: problem.bias, classes: problem.classes, optimizer: optimizer,
                learningRate: learningRate, weightDecay: weightDecay, maximumBatch: 16)
            let losses = try problem.batches.map { try trainer.step(problem.data, batch: $0[...]) }
            let expectedLosses = (entry["losses"] as? [NSNumber] ?? []).map(\.doubleValue)
            #expect(losses.count == expectedLosses.count)
            for (step, (ours, theirs)) in zip(losses, expectedLosses).enumerated() {
                #expect(abs(ours - theirs) <= 1e-5 * max(1, abs(theirs)), "\(name) \(entry) step \(step)")
            }
            let expectedWeight = (entry["weight"] as? [NSNumber] ?? []).map(\.floatValue)
            let expectedBias = (entry["bias"] as? [NSNumber] ?? []).map(\.floatValue)
            #expect(Self.largestDifference(trainer.weight, expectedWeight) <= 2e-6, "\(entry)")
            #expect(Self.largestDifference(trainer.bias, expectedBias) <= 2e-6, "\(entry)")
        }
    }

    /// The analytic gradient of the mean cross-entropy agrees with central differences.
    @Test func crossEntropyGradientMatchesFiniteDifferences() throws {
        let classes = 5
        let rows = 3
        let labels = [4, 0, 2]
        let logits: [Float] = (0..<(rows * classes)).map { Float(($0 * 37) % 11) / 3 - 1.5 }
        func loss(_ values: [Float]) -> Double {
            var copy = values
            return copy.withUnsafeMutableBufferPointer {
                SoftmaxCrossEntropy.evaluate(logits: $0, rows: rows, classes: classes, labels: { labels[$0] }, gradientScale: nil).lossSum
            } / Double(rows)
        }
        var gradient = logits
        _ = gradient.withUnsafeMutableBufferPointer {
            SoftmaxCrossEntropy.evaluate(logits: $0, rows: rows, classes: classes, labels: { labels[$0] }, gradientScale: 1 / Float(rows))
        }
        let step: Float = 1e-2
        for index in logits.indices {
            var up = logits, down = logits
            up[index] += step
            down[index] -= step
            let numeric = (loss(up) - loss(down)) / Double(2 * step)
            #expect(abs(numeric - Double(gradient[index])) < 1e-3, "logit \(index)")
        }
    }

    @Test func bestEpochIsKeptAndHistoryIsComplete() throws {
        let problem = try Self.problem()
        let settings = HeadTrainingSettings(epochs: 12, learningRate: 0.5, batchSize: 8, optimizer: .sgd(momentum: 0.9), seed: 3)
        var seen: [EpochResult] = []
        let result = try HeadTraining.train(
            train: problem.data, validation: problem.data, weight: problem.weight, bias: problem.bias,
            classes: problem.classes, settings: settings, onEpoch: { seen.append($0) })
        #expect(seen == result.history)
        #expect(result.history.map(\.epoch) == Array(1...12))
        let bestAccuracy = result.history.compactMap(\.validationAccuracy).max()
        #expect(result.best.validationAccuracy == bestAccuracy)
        // The returned weights are that epoch's: evaluating them gives its figures again.
        let check = try LinearHeadTrainer(
            weight: result.weight, bias: result.bias, classes: problem.classes, optimizer: .sgd(momentum: 0),
            learningRate: 1, weightDecay: 0, maximumBatch: 64)
        let figures = try check.evaluate(problem.data)
        #expect(figures.accuracy == result.best.validationAccuracy)
        #expect(abs(figures.loss - (result.best.validationLoss ?? -1)) < 1e-9)
        // Same seed, same run.
        let again = try HeadTraining.train(
            train: problem.data, validation: problem.data, weight: problem.weight, bias: problem.bias,
            classes: problem.classes, settings: settings)
        #expect(again.weight == result.weight)
    }

    @Test func stratifiedSplitHoldsOutEachClassAndIsSeeded() throws {
        let labels = Array(repeating: 0, count: 10) + Array(repeating: 1, count: 5) + [2]
        let split = try DatasetSplit.stratified(labels: labels, validationFraction: 0.2, seed: 7)
        #expect(Set(split.train).isDisjoint(with: split.validation))
        #expect((split.train + split.validation).sorted() == Array(labels.indices))
        #expect(split.validation.filter { labels[$0] == 0 }.count == 2)
        #expect(split.validation.filter { labels[$0] == 1 }.count == 1)
        #expect(split.validation.filter { labels[$0] == 2 }.isEmpty)  // a lone image stays in training
        #expect(try DatasetSplit.stratified(labels: labels, validationFraction: 0.2, seed: 7) == split)
        #expect(try DatasetSplit.stratified(labels: labels, validationFraction: 0.2, seed: 8) != split)
        #expect(throws: TrainingError.self) { try DatasetSplit.stratified(labels: labels, validationFraction: 1, seed: 0) }
    }

    @Test func badSettingsAndDataAreErrors() throws {
        let problem = try Self.problem()
        for settings in [
            HeadTrainingSettings(epochs: 0), HeadTrainingSettings(learningRate: -1), HeadTrainingSettings(batchSize: 0),
            HeadTrainingSettings(optimizer: .sgd(momentum: 1)), HeadTrainingSettings(weightDecay: .nan),
        ] {
            #expect(throws: TrainingError.self) {
                try HeadTraining.train(
                    train: problem.data, validation: nil, weight: problem.weight, bias: problem.bias,
                    classes: problem.classes, settings: settings)
            }
        }
        let trainer = try LinearHeadTrainer(
            weight: problem.weight, bias: problem.bias, classes: problem.classes, optimizer: .sgd(momentum: 0),
            learningRate: 0.1, weightDecay: 0, maximumBatch: 4)
        #expect(throws: TrainingError.self) { try trainer.step(problem.data, batch: [0, 1, 2, 3, 4][...]) }
        #expect(throws: TrainingError.self) { try trainer.step(problem.data, batch: [problem.data.rows][...]) }
        let outOfRange = try FeatureMatrix(columns: problem.data.columns, values: Array(problem.data.values.prefix(problem.data.columns)), labels: [problem.classes])
        #expect(throws: TrainingError.self) { try trainer.evaluate(outOfRange) }
        #expect(throws: TrainingError.self) { try trainer.step(outOfRange, batch: [0][...]) }
        #expect(throws: TrainingError.self) { try FeatureMatrix(columns: 3, values: [1, 2], labels: [0]) }
    }

    static func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }
}
