import Foundation
import PthKit

/// `pthkit bench --profile`: where a compiled forward pass spends its time, step by step, for the
/// person deciding which kernel to work on next.
enum StepProfile {
    /// Prints the `limit` slowest steps (median of `runs` timed runs each), or with `allSteps` every
    /// step in plan order (to see what surrounds a slow one), then the time per kind of step, the
    /// summary line without its value numbers.
    static func print(_ plan: ExecutionPlan, input: Tensor, runs: Int, allSteps: Bool = false, limit: Int = 25) throws {
        let steps = try plan.stepTimes(input, runs: runs)
        let total = steps.reduce(0) { $0 + $1.milliseconds }
        Swift.print(String(format: "steps: %d, sum of step medians %.3f ms", steps.count, total))
        Swift.print(allSteps ? "steps in plan order (ms, share, step):" : "slowest steps (ms, share, step):")
        let listed = allSteps
            ? Array(steps.enumerated())
            : Array(steps.enumerated().sorted { $0.element.milliseconds > $1.element.milliseconds }.prefix(limit))
        for (index, step) in listed {
            let share = 100 * step.milliseconds / total
            Swift.print(String(format: "  %8.3f %5.1f%%  #%d %@", step.milliseconds, share, index, step.step))
        }
        var byKind: [String: (milliseconds: Double, count: Int)] = [:]
        for step in steps {
            byKind[kind(of: step.step), default: (0, 0)].milliseconds += step.milliseconds
            byKind[kind(of: step.step), default: (0, 0)].count += 1
        }
        Swift.print("by kind (ms, share, steps, kind):")
        for (kind, figures) in byKind.sorted(by: { $0.value.milliseconds > $1.value.milliseconds }) {
            let share = 100 * figures.milliseconds / total
            Swift.print(String(format: "  %8.3f %5.1f%% %4d  %@", figures.milliseconds, share, figures.count, kind))
        }
    }

    /// A step's summary line without its value lists ("[3] -> [4]") and plain numbers (channel counts
    /// "32->64", slice offsets "0/64"): "conv 3x3/1 blocked +relu".
    private static func kind(of step: String) -> String {
        let words = step.split(separator: " ").filter { word in
            let isValueList = word.hasPrefix("[") || word.hasSuffix("]") || word == "->"
            let isNumbers = word.allSatisfy { $0.isNumber || $0 == "/" || $0 == "-" || $0 == ">" || $0 == "," }
            return !isValueList && !isNumbers
        }
        return words.joined(separator: " ")
    }
}
