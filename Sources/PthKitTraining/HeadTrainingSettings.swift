/// How a new classifier head is trained: `finetune-head`'s options.
public struct HeadTrainingSettings: Sendable, Equatable {
    public var epochs: Int
    public var learningRate: Float
    public var batchSize: Int
    public var optimizer: OptimizerKind
    /// PyTorch's `weight_decay`: L2 added to the gradient of the weight and the bias alike.
    public var weightDecay: Float
    /// Seeds the new head's initial weights, the validation split and the order of batches.
    public var seed: UInt64

    public init(
        epochs: Int = 20, learningRate: Float = 0.01, batchSize: Int = 32, optimizer: OptimizerKind = .sgd(momentum: 0.9),
        weightDecay: Float = 0, seed: UInt64 = 0
    ) {
        self.epochs = epochs
        self.learningRate = learningRate
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.weightDecay = weightDecay
        self.seed = seed
    }

    func validate() throws {
        guard epochs > 0 else { throw TrainingError.invalidSetting("epochs must be positive, not \(epochs)") }
        guard batchSize > 0 else { throw TrainingError.invalidSetting("the batch size must be positive, not \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite else {
            throw TrainingError.invalidSetting("the learning rate must be a positive number, not \(learningRate)")
        }
        guard weightDecay >= 0, weightDecay.isFinite else {
            throw TrainingError.invalidSetting("weight decay must be zero or positive, not \(weightDecay)")
        }
        switch optimizer {
        case .sgd(let momentum):
            guard (0..<1).contains(momentum) else { throw TrainingError.invalidSetting("momentum must be in [0, 1), not \(momentum)") }
        case .adam(let beta1, let beta2, let epsilon):
            guard (0..<1).contains(beta1), (0..<1).contains(beta2), epsilon > 0 else {
                throw TrainingError.invalidSetting("Adam needs betas in [0, 1) and a positive epsilon")
            }
        }
    }
}

/// One epoch's figures; validation figures are nil when there is no validation set.
public struct EpochResult: Sendable, Codable, Equatable {
    public let epoch: Int
    public let trainLoss: Double
    public let trainAccuracy: Double
    public let validationLoss: Double?
    public let validationAccuracy: Double?
}
