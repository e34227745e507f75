import Foundation
import PthKit
import Testing

@testable import PthKitModels

/// Fresh Conv2d and Linear values are drawn when first read, so a model built to load a checkpoint
/// never draws them; what is drawn must not depend on when.
struct LazyInitializationTests {
    @Test func valuesDoNotDependOnWhenTheyAreRead() throws {
        func build() -> Module { Initialization.withSeed(11) { Sequential(Conv2d(3, 8, kernelSize: 3), Linear(8, 4)) } }
        let early = build(), late = build()
        let earlyValues = early.namedParameters().map { $0.parameter.value.storage }
        // Read the second model's parameters in the opposite order, well after building it.
        let lateValues = late.namedParameters().reversed().map { $0.parameter.value.storage }.reversed()
        #expect(Array(lateValues) == earlyValues)
        // PyTorch's default bound for the conv weight: 1/sqrt(fan_in) with fan_in 27.
        let convWeight = try #require(earlyValues.first)
        #expect(convWeight.allSatisfy { abs($0) <= 1 / Float(27).squareRoot() })
        #expect(Set(convWeight).count > convWeight.count / 2)
    }

    @Test func loadingAStateDictDrawsNothing() throws {
        let source = try ModelZoo.build("resnet18")
        let dict = source.stateDictForSaving()
        let model = try ModelZoo.build("resnet18")
        let parameters = model.namedParameters()
        #expect(parameters.contains { $0.parameter.isAwaitingDraw })
        _ = try model.loadStateDict(dict)
        #expect(!parameters.contains { $0.parameter.isAwaitingDraw })
        let loaded = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter.value.storage) })
        for (name, parameter) in source.namedParameters() { #expect(loaded[name] == parameter.value.storage, "\(name)") }
    }

    @Test func aReplacedHeadIsDrawnFresh() throws {
        let head = Initialization.withSeed(3) { Linear(16, 10) }
        let before = head.weight.value.storage.array
        Initialization.withSeed(4) { head.resetParameters(outFeatures: 5) }
        #expect(head.weight.shape == [5, 16])
        #expect(head.weight.value.storage.array != Array(before.prefix(80)))
    }
}
