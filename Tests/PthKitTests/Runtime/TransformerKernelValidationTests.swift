import PthKit
import Testing

/// The transformer kernels reject bad shapes, arguments and index buffers with `RuntimeError`.
@Suite("Transformer kernels reject bad input")
struct TransformerKernelValidationTests {
    static func tensor(_ shape: [Int]) -> Tensor { KernelValidationTests.tensor(shape) }

    @Test func layoutKernelsRejectBadArguments() {
        let x = Self.tensor([2, 3, 4])
        #expect(throws: RuntimeError.self) { try Kernels.permute(x, [0, 1]) }
        #expect(throws: RuntimeError.self) { try Kernels.permute(x, [0, 1, 1]) }
        #expect(throws: RuntimeError.self) { try Kernels.permute(x, [0, 1, 3]) }
        #expect(throws: RuntimeError.self) { try Kernels.roll(x, shifts: [1], dims: [0, 1]) }
        #expect(throws: RuntimeError.self) { try Kernels.roll(x, shifts: [1], dims: [3]) }
        #expect(throws: RuntimeError.self) { try Kernels.pad(x, [1]) }
        #expect(throws: RuntimeError.self) { try Kernels.pad(x, [0, 0, 0, 0, 0, 0, 1, 1]) }
        #expect(throws: RuntimeError.self) { try Kernels.pad(x, [-3, -2]) }
        #expect(throws: RuntimeError.self) { try Kernels.pad(x, [Int.max, 0]) }
        #expect(throws: RuntimeError.self) { try Kernels.narrow(x, dim: 1, start: 2, length: 2) }
        #expect(throws: RuntimeError.self) { try Kernels.narrow(x, dim: 1, start: -1, length: 1) }
        #expect(throws: RuntimeError.self) { try Kernels.expand(x, to: [2, 5, 4]) }
        #expect(throws: RuntimeError.self) { try Kernels.expand(x, to: [3, 4]) }
        #expect(throws: RuntimeError.self) { try Kernels.multiply(x, Self.tensor([2, 4])) }
        #expect(throws: RuntimeError.self) { try Kernels.permute(KernelValidationTests.inconsistent, [0, 1, 2, 3]) }
    }

    @Test func layerNormRejectsBadShapes() {
        #expect(throws: RuntimeError.self) { try Kernels.layerNorm(Self.tensor([2, 4]), weight: [1, 1], bias: nil, eps: 1e-5) }
        #expect(throws: RuntimeError.self) { try Kernels.layerNorm(Tensor(shape: [], storage: [1]), weight: nil, bias: nil, eps: 1e-5) }
        #expect(throws: RuntimeError.self) {
            try Kernels.layerNormChannels(Self.tensor([2, 4, 3]), weight: nil, bias: nil, eps: 1e-5)
        }
        #expect(throws: RuntimeError.self) {
            try Kernels.layerNormChannels(Self.tensor([1, 4, 3, 3]), weight: nil, bias: [1, 2, 3], eps: 1e-5)
        }
    }

    @Test func attentionRejectsBadShapes() {
        let qkv = Self.tensor([4, 5, 12])
        func attend(_ qkv: Tensor, heads: Int = 2, bias: Tensor? = nil, mask: Tensor? = nil, logitScale: [Float]? = nil) throws {
            _ = try Kernels.attention(packed: qkv, heads: heads, scale: 0.5, bias: bias, mask: mask, logitScale: logitScale)
        }
        #expect(throws: RuntimeError.self) { try attend(Self.tensor([5, 12])) }
        #expect(throws: RuntimeError.self) { try attend(Self.tensor([4, 5, 10])) }
        #expect(throws: RuntimeError.self) { try attend(qkv, heads: 0) }
        #expect(throws: RuntimeError.self) { try attend(qkv, heads: 3) }
        #expect(throws: RuntimeError.self) { try attend(qkv, bias: Self.tensor([2, 5, 4])) }
        #expect(throws: RuntimeError.self) { try attend(qkv, mask: Self.tensor([3, 5, 5])) }
        #expect(throws: RuntimeError.self) { try attend(qkv, mask: Self.tensor([2, 5])) }
        #expect(throws: RuntimeError.self) { try attend(qkv, logitScale: [1]) }
    }

    /// Index buffers come from checkpoints: a value outside the table is an error, not a read past it.
    @Test func indexSelectRejectsIndicesOutsideTheTable() {
        let table = Self.tensor([4, 3])
        for bad: Float in [4, -1, 0.5, .nan, .infinity] {
            #expect(throws: RuntimeError.self) { try Kernels.indexSelect(table, index: Tensor(shape: [2], storage: [0, bad])) }
        }
    }

    /// Swin's position index loaded from a hostile checkpoint: the forward pass throws.
    @Test func swinWithCorruptPositionIndexThrows() throws {
        let model = try ModelZoo.build("swin_t", arguments: ModelArguments(["num_classes": "3"]))
        let key = "features.1.0.attn.relative_position_index"
        let buffer = try #require(model.stateDict().first { $0.key == key }?.parameter)
        buffer.setIntegers([Int64](repeating: 1_000_000, count: 49 * 49), shape: [49 * 49])
        #expect(throws: RuntimeError.self) { try model.referenceForward(Tensor(zeros: [1, 3, 32, 32])) }
        #expect(throws: RuntimeError.self) { try model(Tensor(zeros: [1, 3, 32, 32])) }
    }

    /// Builder arguments from users are checked, never trapped on.
    @Test func buildersRejectBadArguments() {
        let bad: [(String, [String: String])] = [
            ("vit_b_16", ["image_size": "100"]), ("vit_b_16", ["image_size": "-16"]), ("vit_b_32", ["representation_size": "0"]),
            ("maxvit_t", ["input_size": "200,200"]), ("maxvit_t", ["input_size": "224"]), ("swin_t", ["mlp_ratio": "0"]),
            ("convnext_tiny", ["layer_scale": "x"]), ("maxvit_t", ["stochastic_depth_prob": "0.1"]),
        ]
        for (name, arguments) in bad {
            #expect(throws: ModelError.self, "\(name) \(arguments)") { try ModelZoo.build(name, arguments: ModelArguments(arguments)) }
        }
    }

    /// `representation_size=None`, as torchvision's default is written, builds the default head; a
    /// size adds the `pre_logits` layer.
    @Test func visionTransformerTakesRepresentationSizeNone() throws {
        let defaultKeys = try ModelZoo.build("vit_b_32").stateDict().map(\.key)
        for spelling in ["None", "none"] {
            let model = try ModelZoo.build("vit_b_32", arguments: ModelArguments(["representation_size": spelling]))
            let keys = model.stateDict().map(\.key)
            #expect(keys == defaultKeys)
            #expect(!keys.contains { $0.contains("pre_logits") })
        }
        let withHead = try ModelZoo.build("vit_b_32", arguments: ModelArguments(["representation_size": "96"]))
        #expect(withHead.stateDict().contains { $0.key == "heads.pre_logits.weight" })
    }

    /// ViT takes only the image size its position embedding was made for, as torch asserts.
    @Test func visionTransformerRejectsOtherImageSizes() throws {
        let model = try ModelZoo.build("vit_b_32", arguments: ModelArguments(["image_size": "64", "num_classes": "2"]))
        #expect(throws: RuntimeError.self) { try model.referenceForward(Tensor(zeros: [1, 3, 96, 64])) }
        #expect(try model.referenceForward(Tensor(zeros: [1, 3, 64, 64])).shape == [1, 2])
    }
}
