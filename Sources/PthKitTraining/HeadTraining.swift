import PthKitModels

/// The epoch loop for a new head: shuffled minibatches, figures after every epoch, and the weights of
/// the best epoch kept (highest validation accuracy, then lowest validation loss; without validation
/// data the same on the training set).
public struct HeadTraining {
    public struct Result: Sendable {
        public let history: [EpochResult]
        public let bestEpoch: Int
        public let weight: [Float]
        public let bias: [Float]?

        public var best: EpochResult { history[bestEpoch - 1] }
    }

    /// Trains from `weight`/`bias` (`[classes, features]` and `[classes]`, nil for a layer without bias).
    public static func train(
        train: FeatureMatrix, validation: FeatureMatrix?, weight: [Float], bias: [Float]?, classes: Int,
        settings: HeadTrainingSettings,
        onEpoch: (EpochResult) -> Void = { _ in }
    ) throws -> Result {
        try settings.validate()
        guard train.rows > 0 else { throw TrainingError.invalidData("there are no training images") }
        let trainer = try LinearHeadTrainer(
            weight: weight, bias: bias, classes: classes, optimizer: settings.optimizer,
            learningRate: settings.learningRate, weightDecay: settings.weightDecay,
            maximumBatch: min(settings.batchSize, train.rows))
        var generator = SplitMix64(state: settings.seed ^ 0x5348_5546_464C_4521)  // the batch order's own stream
        var order = Array(0..<train.rows)
        var history: [EpochResult] = []
        var best: (epoch: Int, weight: [Float], bias: [Float]?, score: (Double, Double))?
        for epoch in 1...settings.epochs {
            generator.shuffle(&order)
            for start in stride(from: 0, to: order.count, by: settings.batchSize) {
                try trainer.step(train, batch: order[start..<min(start + settings.batchSize, order.count)])
            }
            let trainFigures = try trainer.evaluate(train)
            let validationFigures = try validation.map { try trainer.evaluate($0) }
            let result = EpochResult(
                epoch: epoch, trainLoss: trainFigures.loss, trainAccuracy: trainFigures.accuracy,
                validationLoss: validationFigures?.loss, validationAccuracy: validationFigures?.accuracy)
            history.append(result)
            onEpoch(result)
            let figures = validationFigures ?? trainFigures
            // Higher accuracy wins; equal accuracy goes to the lower loss.
            let score = (figures.accuracy, -figures.loss)
            if best.map({ score > $0.score }) ?? true {
                best = (epoch, trainer.weight, trainer.trainsBias ? trainer.bias : nil, score)
            }
        }
        guard let best else { throw TrainingError.invalidSetting("no epoch ran") }
        return Result(history: history, bestEpoch: best.epoch, weight: best.weight, bias: best.bias)
    }
}

extension SplitMix64 {
    /// Fisher-Yates with this generator: the same seed gives the same order on every platform and
    /// Swift version (the standard library's `shuffle` promises neither).
    mutating func shuffle<Element>(_ items: inout [Element]) {
        guard items.count > 1 else { return }
        for index in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(index, Int(next() % UInt64(index + 1)))
        }
    }
}
