import Foundation

/// `F.cross_entropy` with mean reduction, and its gradient with respect to the logits.
enum SoftmaxCrossEntropy {
    /// The summed loss of `rows` rows of `logits` (each `classes` wide) against `labels`; when
    /// `gradientScale` is given, each row is overwritten with `(softmax - onehot) * gradientScale`.
    /// Also counts rows whose largest logit is the label (first maximum wins, as `argmax`).
    static func evaluate(
        logits: UnsafeMutableBufferPointer<Float>, rows: Int, classes: Int, labels: (Int) -> Int,
        gradientScale: Float?
    ) -> (lossSum: Double, correct: Int) {
        var lossSum = 0.0
        var correct = 0
        for row in 0..<rows {
            let base = row * classes
            var largest = logits[base]
            var best = 0
            for column in 1..<max(classes, 1) where logits[base + column] > largest {
                largest = logits[base + column]
                best = column
            }
            let label = labels(row)
            if best == label { correct += 1 }
            var total: Float = 0
            for column in 0..<classes { total += expf(logits[base + column] - largest) }
            let logTotal = logf(total)
            lossSum += Double(logTotal - (logits[base + label] - largest))
            guard let gradientScale else { continue }
            for column in 0..<classes {
                let probability = expf(logits[base + column] - largest - logTotal)
                logits[base + column] = (probability - (column == label ? 1 : 0)) * gradientScale
            }
        }
        return (lossSum, correct)
    }
}
