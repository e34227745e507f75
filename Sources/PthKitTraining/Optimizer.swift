import Foundation

/// The update rule of `torch.optim.SGD` or `torch.optim.Adam` for one flat parameter array, with
/// PyTorch's coupled weight decay (`grad + weight_decay * param`, not AdamW's decoupled form).
public enum OptimizerKind: Sendable, Equatable {
    /// `SGD(lr, momentum, weight_decay)` without dampening or Nesterov.
    case sgd(momentum: Float)
    /// `Adam(lr, betas, eps, weight_decay)`.
    case adam(beta1: Float, beta2: Float, epsilon: Float)

    public static let adamDefaults = OptimizerKind.adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
}

/// One parameter array's optimizer state: the momentum buffer, or Adam's two moment estimates.
struct OptimizerState {
    let kind: OptimizerKind
    let learningRate: Float
    let weightDecay: Float
    private var first: [Float]
    private var second: [Float]
    private var steps = 0

    init(kind: OptimizerKind, learningRate: Float, weightDecay: Float, count: Int) {
        self.kind = kind
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        first = [Float](repeating: 0, count: count)
        if case .adam = kind { second = [Float](repeating: 0, count: count) } else { second = [] }
    }

    /// Applies one step to `parameters` given their gradient, in the order of operations PyTorch's
    /// single-tensor (foreach=False) implementations use, so the float32 results match.
    mutating func step(_ parameters: UnsafeMutableBufferPointer<Float>, gradient: UnsafeBufferPointer<Float>) {
        steps += 1
        let decay = weightDecay
        first.withUnsafeMutableBufferPointer { first in
            switch kind {
            case .sgd(let momentum):
                for index in parameters.indices {
                    let grad = decay == 0 ? gradient[index] : gradient[index] + decay * parameters[index]
                    // The first step's buffer is the gradient itself (torch.clone(grad)).
                    let velocity = momentum == 0 ? grad : (steps == 1 ? grad : momentum * first[index] + grad)
                    first[index] = velocity
                    parameters[index] -= learningRate * velocity
                }
            case .adam(let beta1, let beta2, let epsilon):
                // Python computes these scalars in double precision; torch rounds each to float once.
                let (beta1, beta2) = (Double(beta1), Double(beta2))
                let correction1 = 1 - pow(beta1, Double(steps))
                let correction2Root = (1 - pow(beta2, Double(steps))).squareRoot()
                let stepSize = Float(Double(learningRate) / correction1)
                let (keep1, keep2) = (Float(1 - beta1), Float(1 - beta2))
                let (beta2Float, root2) = (Float(beta2), Float(correction2Root))
                second.withUnsafeMutableBufferPointer { second in
                    for index in parameters.indices {
                        let grad = decay == 0 ? gradient[index] : gradient[index] + decay * parameters[index]
                        // exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
                        first[index] += keep1 * (grad - first[index])
                        let decayed = second[index] * beta2Float
                        second[index] = decayed + keep2 * grad * grad
                        let denominator = second[index].squareRoot() / root2 + epsilon
                        parameters[index] -= stepSize * (first[index] / denominator)
                    }
                }
            }
        }
    }
}
