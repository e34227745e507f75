import PthKitRuntime


/// A Linear layer `logits = x W^T + b` trained by minibatches of softmax cross-entropy, as
/// `nn.Linear` with `F.cross_entropy` and `torch.optim.SGD`/`Adam` train it. Buffers are sized once
/// for the largest batch, so a training step allocates nothing.
public final class LinearHeadTrainer {
    public let classes: Int
    public let features: Int
    /// `[classes, features]`, row-major like `nn.Linear.weight`.
    public private(set) var weight: [Float]
    /// Zeros, never updated, when the layer has no bias (`nn.Linear(bias=False)`).
    public private(set) var bias: [Float]
    public let trainsBias: Bool

    private var weightOptimizer: OptimizerState
    private var biasOptimizer: OptimizerState
    private var batchInput: [Float]
    private var logits: [Float]
    private var weightGradient: [Float]
    private var biasGradient: [Float]
    private let maximumBatch: Int

    public init(
        weight: [Float], bias: [Float]?, classes: Int, optimizer: OptimizerKind, learningRate: Float, weightDecay: Float,
        maximumBatch: Int
    ) throws {
        guard classes > 0, bias.map({ $0.count == classes }) ?? true, weight.count % classes == 0, !weight.isEmpty else {
            throw TrainingError.invalidData("a head of \(classes) classes needs \(classes) biases and [\(classes), features] weights")
        }
        guard maximumBatch > 0 else { throw TrainingError.invalidSetting("the batch size must be positive") }
        self.classes = classes
        features = weight.count / classes
        self.weight = weight
        self.bias = bias ?? [Float](repeating: 0, count: classes)
        trainsBias = bias != nil
        self.maximumBatch = maximumBatch
        weightOptimizer = OptimizerState(kind: optimizer, learningRate: learningRate, weightDecay: weightDecay, count: weight.count)
        biasOptimizer = OptimizerState(kind: optimizer, learningRate: learningRate, weightDecay: weightDecay, count: classes)
        batchInput = [Float](repeating: 0, count: maximumBatch * features)
        logits = [Float](repeating: 0, count: maximumBatch * classes)
        weightGradient = [Float](repeating: 0, count: weight.count)
        biasGradient = [Float](repeating: 0, count: classes)
    }

    /// One optimizer step on the rows `batch` of `data`; returns the batch's mean loss.
    @discardableResult
    public func step(_ data: FeatureMatrix, batch: ArraySlice<Int>) throws -> Double {
        try requireColumns(data)
        let count = batch.count
        guard count > 0, count <= maximumBatch else {
            throw TrainingError.invalidSetting("a batch of \(count) rows, expected 1...\(maximumBatch)")
        }
        // Only this batch's rows and labels are checked: a step stays O(batch), not O(data).
        guard batch.allSatisfy({ (0..<data.rows).contains($0) }) else {
            throw TrainingError.invalidData("a batch row lies outside the \(data.rows) rows")
        }
        try requireLabels(batch.lazy.map { data.labels[$0] })
        let (features, classes) = (self.features, self.classes)
        data.values.withUnsafeBufferPointer { source in
            batchInput.withUnsafeMutableBufferPointer { input in
                for (slot, row) in batch.enumerated() {
                    _ = UnsafeMutableBufferPointer(rebasing: input[(slot * features)..<((slot + 1) * features)])
                        .update(fromContentsOf: UnsafeBufferPointer(rebasing: source[(row * features)..<((row + 1) * features)]))
                }
            }
        }
        computeLogits(batchInput, rows: count)
        let labels = data.labels
        let loss = logits.withUnsafeMutableBufferPointer { logits in
            SoftmaxCrossEntropy.evaluate(
                logits: logits, rows: count, classes: classes, labels: { labels[batch[batch.startIndex + $0]] },
                gradientScale: 1 / Float(count)
            ).lossSum
        }
        // dW = G^T X over the batch, db = column sums of G (G now holds the logits' gradient).
        logits.withUnsafeBufferPointer { gradient in
            batchInput.withUnsafeBufferPointer { input in
                weightGradient.withUnsafeMutableBufferPointer { result in
                    guard let gradient = gradient.baseAddress, let input = input.baseAddress, let result = result.baseAddress
                    else { return }
                    Kernels.multiply(
                        transposeA: true, m: classes, n: features, k: count, gradient, lda: classes, input, ldb: features,
                        accumulate: false, result, ldc: features)
                }
            }
        }
        for column in 0..<classes {
            var sum: Float = 0
            for row in 0..<count { sum += logits[row * classes + column] }
            biasGradient[column] = sum
        }
        weight.withUnsafeMutableBufferPointer { parameters in
            weightGradient.withUnsafeBufferPointer { weightOptimizer.step(parameters, gradient: $0) }
        }
        guard trainsBias else { return loss / Double(count) }
        bias.withUnsafeMutableBufferPointer { parameters in
            biasGradient.withUnsafeBufferPointer { biasOptimizer.step(parameters, gradient: $0) }
        }
        return loss / Double(count)
    }

    /// Mean loss and accuracy of the current head on every row of `data`.
    public func evaluate(_ data: FeatureMatrix) throws -> (loss: Double, accuracy: Double) {
        try requireCompatible(data)
        guard data.rows > 0 else { return (0, 0) }
        var lossSum = 0.0
        var correct = 0
        let labels = data.labels
        for start in stride(from: 0, to: data.rows, by: maximumBatch) {
            let count = min(maximumBatch, data.rows - start)
            data.values.withUnsafeBufferPointer { source in
                computeLogits(UnsafeBufferPointer(rebasing: source[(start * features)...]), rows: count)
            }
            let result = logits.withUnsafeMutableBufferPointer { logits in
                SoftmaxCrossEntropy.evaluate(
                    logits: logits, rows: count, classes: classes, labels: { labels[start + $0] }, gradientScale: nil)
            }
            lossSum += result.lossSum
            correct += result.correct
        }
        return (lossSum / Double(data.rows), Double(correct) / Double(data.rows))
    }

    private func computeLogits(_ input: UnsafeBufferPointer<Float>, rows: Int) {
        let (features, classes) = (self.features, self.classes)
        logits.withUnsafeMutableBufferPointer { logits in
            for row in 0..<rows {
                _ = UnsafeMutableBufferPointer(rebasing: logits[(row * classes)..<((row + 1) * classes)]).update(fromContentsOf: bias)
            }
            weight.withUnsafeBufferPointer { weight in
                guard let input = input.baseAddress, let weight = weight.baseAddress, let logits = logits.baseAddress
                else { return }
                Kernels.multiply(
                    transposeB: true, m: rows, n: classes, k: features, input, lda: features, weight, ldb: features,
                    accumulate: true, logits, ldc: classes)
            }
        }
    }

    private func computeLogits(_ input: [Float], rows: Int) {
        input.withUnsafeBufferPointer { computeLogits($0, rows: rows) }
    }

    private func requireCompatible(_ data: FeatureMatrix) throws {
        try requireColumns(data)
        try requireLabels(data.labels)
    }

    private func requireColumns(_ data: FeatureMatrix) throws {
        guard data.columns == features else {
            throw TrainingError.invalidData("features have \(data.columns) columns, the head takes \(features)")
        }
    }

    private func requireLabels<Labels: Sequence<Int>>(_ labels: Labels) throws {
        guard labels.allSatisfy({ (0..<classes).contains($0) }) else {
            throw TrainingError.invalidData("a label lies outside the head's \(classes) classes")
        }
    }
}
