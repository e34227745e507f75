import PthKit
import Testing

@Suite("Transformer models")
struct TransformerModelTests {
    /// torchvision builds ViT for a weight file's image size (`_ovewrite_named_param`); the manifest
    /// records it per file, and the position embedding it gives has that file's shape.
    @Test func officialViTWeightsCarryTheirImageSize() throws {
        let manifest = try ModelsManifest.decodeEmbedded()
        let swag = try #require(manifest.officialWeights(fileName: "vit_b_16_swag-9ac1b537.pth"))
        #expect(swag.weights.arguments?["image_size"]?.description == "384")
        #expect(manifest.officialWeights(fileName: "vit_b_16-c867db91.pth")?.weights.arguments == nil)
        #expect(manifest.officialWeights(fileName: "vit_h_14_swag-80465313.pth")?.weights.arguments?["image_size"]?.description == "518")
        #expect(manifest.entry("vit_h_14")?.inputSize == [3, 224, 224])

        let model = try ModelZoo.build("vit_b_16", arguments: ModelArguments(["image_size": "384"]))
        let shapes = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.key, $0.parameter.shape) })
        #expect(shapes["encoder.pos_embedding"] == [1, 24 * 24 + 1, 768])
        #expect(shapes["class_token"] == [1, 1, 768])
    }

    /// The buffers torch registers, under its names, with its values.
    @Test func positionBuffersAreTorchs() throws {
        let swin = try ModelZoo.build("swin_v2_t")
        let state = Dictionary(uniqueKeysWithValues: swin.stateDict().map { ($0.key, $0.parameter) })
        let index = try #require(state["features.1.0.attn.relative_position_index"])
        #expect(index.shape == [64 * 64] && index.dtype == .int64)
        // Token 0 against token 63 (offset -7, -7) and the reverse: the table's corners.
        #expect(index.integerValues?[63] == 0 && index.integerValues?[63 * 64] == 224)
        #expect(state["features.1.0.attn.relative_coords_table"]?.shape == [1, 15, 15, 2])
        #expect(state["features.1.0.attn.logit_scale"]?.shape == [3, 1, 1])
        #expect(state["features.1.0.attn.relative_position_bias_table"] == nil)
        let maxvit = try ModelZoo.build("maxvit_t")
        let maxvitIndex = maxvit.stateDict().first { $0.key == "blocks.0.layers.0.layers.window_attention.attn_layer.1.relative_position_index" }
        #expect(maxvitIndex?.parameter.shape == [49, 49])
    }
}
