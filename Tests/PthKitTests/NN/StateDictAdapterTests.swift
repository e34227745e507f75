import Foundation
import PthKit
import Testing

@Suite("State dict adapters and module behaviour")
struct StateDictAdapterTests {
    private func stateDict(_ keys: [String]) -> StateDict {
        StateDict(entries: keys.map { ($0, TensorData(dtype: .float32, shape: [1], bytes: [0, 0, 128, 63])) })
    }

    @Test func prefixAndPatternRenames() throws {
        let renamed = stateDict(["backbone.layer1.0.weight", "head.fc.bias"]).renamed(by: [
            try RenameRule(parsing: "backbone.="),
            try RenameRule(parsing: #"re:^head\.(\w+)=$1"#),
        ])
        #expect(renamed.keys == ["layer1.0.weight", "fc.bias"])
        #expect(throws: StateDictError.self) { try RenameRule(parsing: "no-separator") }
        #expect(throws: StateDictError.self) { try RenameRule(parsing: "re:([=x") }
    }

    @Test func strippingAPrefixLeavesOtherKeys() {
        let stripped = stateDict(["module.conv.weight", "other"]).strippingPrefix("module.")
        #expect(stripped.keys == ["conv.weight", "other"])
    }

    @Test func unknownBuilderArgumentsAreErrors() {
        #expect(throws: ModelError.self) { try ModelZoo.build("resnet18", arguments: ModelArguments(["num_clases": "5"])) }
        #expect(throws: ModelError.self) { try ModelZoo.build("resnet18", arguments: ModelArguments(["num_classes": "-5"])) }
        #expect(throws: ModelError.self) { try ModelZoo.build("no_such_model") }
    }

    @Test func wrongInputShapesThrowInsteadOfTrapping() throws {
        let model = try ModelZoo.build("resnet18", arguments: ModelArguments(["num_classes": "3"]))
        #expect(throws: RuntimeError.self) { try model(Tensor(zeros: [1, 1, 32, 32])) }
        #expect(throws: RuntimeError.self) { try model(Tensor(zeros: [3, 32, 32])) }
    }

    /// One loaded model serves concurrent forward passes with the same results as serial ones.
    @Test func concurrentForwardPassesAgree() async throws {
        Initialization.seed(7)
        let model = try ModelZoo.build("mobilenet_v2", arguments: ModelArguments(["num_classes": "10"]))
        let inputs = (0..<4).map { index in
            Tensor(shape: [1, 3, 64, 64], storage: (0..<(3 * 64 * 64)).map { Float(($0 * (index + 3)) % 17) / 17 - 0.5 })
        }
        let serial = try inputs.map { try model($0) }
        let concurrent = try await withThrowingTaskGroup(of: (Int, Tensor).self) { group in
            for (index, input) in inputs.enumerated() { group.addTask { (index, try model(input)) } }
            var results: [Int: Tensor] = [:]
            for try await (index, output) in group { results[index] = output }
            return (0..<inputs.count).compactMap { results[$0] }
        }
        #expect(concurrent == serial)
    }

    @Test func replacedHeadHasTheNewClassCount() throws {
        let model = try ModelZoo.build("resnet18")
        try model.replaceHead(numClasses: 4)
        #expect(model.classifierHead?.path == "fc")
        #expect(try model(Tensor(zeros: [2, 3, 32, 32])).shape == [2, 4])
        #expect(try model.headInput(Tensor(zeros: [2, 3, 32, 32])).shape == [2, 512])
    }
}
