import Foundation
import PthKitRuntime

/// Per layer: output shape, parameter count and mult-adds, from one traced forward pass. The total
/// parameter count equals PyTorch's `sum(p.numel() for p in model.parameters())`.
public struct ModelSummary: Encodable, Sendable {
    public struct Layer: Encodable, Sendable {
        public let name: String
        public let type: String
        public let outputShape: [Int]
        public let parameters: Int
        public let multAdds: Int

        enum CodingKeys: String, CodingKey {
            case name, type, parameters
            case outputShape = "output_shape"
            case multAdds = "mult_adds"
        }
    }

    public let layers: [Layer]
    public let totalParameters: Int
    public let totalMultAdds: Int

    enum CodingKeys: String, CodingKey {
        case layers
        case totalParameters = "total_parameters"
        case totalMultAdds = "total_mult_adds"
    }

    public init(model: Module, inputShape: [Int]) throws {
        guard let count = Tensor.elementCount(of: inputShape), count <= 1 << 28 else {
            throw RuntimeError.invalidArgument(operation: "summary", reason: "input shape \(inputShape) is too large")
        }
        let (_, trace) = try model.trace(Tensor(zeros: inputShape))
        var names: [ObjectIdentifier: (String, Module)] = [:]
        for (name, module) in model.namedModules() { names[ObjectIdentifier(module)] = (name, module) }
        var seen: Set<ObjectIdentifier> = []
        var layers: [Layer] = []
        for step in trace.steps {
            guard let (name, module) = names[step.module], module.children.isEmpty, seen.insert(step.module).inserted else {
                continue
            }
            let parameters = module.localParameters.reduce(0) { $0 + $1.parameter.elementCount }
            layers.append(Layer(
                name: name, type: module.typeName, outputShape: step.outputShape, parameters: parameters,
                multAdds: Self.multAdds(module, outputShape: step.outputShape)))
        }
        self.layers = layers
        totalParameters = model.parameterCount
        totalMultAdds = layers.reduce(0) { $0 + $1.multAdds }
    }

    /// torchinfo's count: a weight's values times the output positions it is applied at.
    private static func multAdds(_ module: Module, outputShape: [Int]) -> Int {
        let outputCount = outputShape.reduce(1, *)
        if let convolution = module as? Conv2d {
            return outputCount * (convolution.weight.elementCount / max(convolution.outChannels, 1))
        }
        if let linear = module as? Linear {
            return outputCount * linear.inFeatures
        }
        return 0
    }

    public var table: String {
        var lines = [pad("Layer", 44) + pad("Type", 20) + pad("Output shape", 22) + pad("Param #", 14) + "Mult-adds"]
        lines.append(String(repeating: "=", count: 112))
        for layer in layers {
            lines.append(pad(layer.name, 44) + pad(layer.type, 20) + pad("\(layer.outputShape)", 22)
                + pad(Self.grouped(layer.parameters), 14) + Self.grouped(layer.multAdds))
        }
        lines.append(String(repeating: "=", count: 112))
        lines.append("Total params: \(Self.grouped(totalParameters))")
        lines.append("Total mult-adds: \(Self.grouped(totalMultAdds))")
        return lines.joined(separator: "\n")
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text.padding(toLength: width, withPad: " ", startingAt: 0)
    }

    static func grouped(_ value: Int) -> String {
        let digits = String(value)
        var result = ""
        for (index, character) in digits.reversed().enumerated() {
            if index > 0, index % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return String(result.reversed())
    }
}
