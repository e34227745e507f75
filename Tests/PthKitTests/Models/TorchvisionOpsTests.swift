@testable import PthKitModels
import PthKit
import Testing

/// The torchvision building blocks the mobile families share; the families themselves are checked
/// against PyTorch by the zoo sweep.
@Suite("torchvision ops and mobile builders")
struct TorchvisionOpsTests {
    /// Values from `torchvision.models._utils._make_divisible`, including the 10% bump (11 -> 16).
    @Test(arguments: [
        (24.0, 8, 24), (1792.0, 8, 1792), (5.6, 8, 8), (36.0, 8, 40), (44.0, 8, 48), (13.5, 8, 16),
        (11.0, 8, 16), (11.2, 8, 16), (17.0, 4, 16), (35.0, 16, 32),
    ])
    func makeDivisibleMatchesTorchvision(_ value: Double, _ divisor: Int, _ expected: Int) {
        #expect(makeDivisible(value, divisor) == expected)
    }

    /// As the Python list does, an absent norm layer closes up the indices, and the conv gets a bias.
    @Test func conv2dNormActivationKeysCloseUp() {
        let withoutNorm = Conv2dNormActivation(3, 8, normLayer: nil)
        #expect(withoutNorm.stateDict().map(\.key) == ["0.weight", "0.bias"])
        #expect(withoutNorm.children.map(\.name) == ["0", "1"])
        let withNorm = Conv2dNormActivation(3, 8, activationLayer: nil)
        #expect(withNorm.stateDict().map(\.key) == [
            "0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
        ])
    }

    @Test(arguments: [
        ("mobilenet_v2", "width_mult", "0"), ("mobilenet_v2", "width_mult", "1e300"),
        ("mobilenet_v2", "round_nearest", "0"), ("mobilenet_v3_small", "dropout", "1.5"),
        ("mobilenet_v3_large", "num_classes", "-1"), ("efficientnet_b0", "stochastic_depth_prob", "-0.1"),
    ])
    func outOfRangeArgumentsThrow(_ model: String, _ name: String, _ value: String) {
        #expect(throws: ModelError.self) { try ModelZoo.build(model, arguments: ModelArguments([name: value])) }
    }

    /// torchvision's `num_params` for the ImageNet weights.
    @Test(arguments: [
        ("mobilenet_v2", 3_504_872), ("mobilenet_v3_large", 5_483_032), ("mobilenet_v3_small", 2_542_856),
        ("efficientnet_b0", 5_288_548),
    ])
    func parameterCountsMatchTorchvision(_ model: String, _ count: Int) throws {
        #expect(try ModelZoo.build(model).parameterCount == count)
    }
}
