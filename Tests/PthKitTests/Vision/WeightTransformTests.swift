import Foundation
import PthKit
import Testing

/// Every official weight file's preprocessing, as `classify` and `preprocess` take it from the manifest,
/// against the tensor torchvision's own `weights.transforms()` makes of the same photographs:
/// Scripts/make_weight_transform_fixtures.py in Tests/Fixtures/generated/weight-transforms.
@Suite("Official weights preprocess as their transforms()")
struct WeightTransformTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let model: String
        let file: String
        /// (image file, tensor shape, sha256 of the float32 tensor) per photograph.
        let images: [(image: String, shape: [Int], sha256: String)]

        var testDescription: String { file }
    }

    static let folder = Fixtures.url("generated/weight-transforms")
    static let cases = (try? load()) ?? []
    static let present = !cases.isEmpty || Fixtures.generatedAreRequired

    static func load() throws -> [Case] {
        let object = try Fixtures.json(folder.appendingPathComponent("weights.json"))
        guard let rows = object["cases"] as? [[String: Any]] else { throw FixtureError("weights.json has no cases") }
        var byFile: [String: Case] = [:]
        var order: [String] = []
        for row in rows {
            guard let model = row["model"] as? String, let file = row["file"] as? String, let image = row["image"] as? String,
                  let shape = row["shape"] as? [Int], let sha256 = row["tensor_sha256"] as? String
            else { throw FixtureError("weights.json: malformed case \(row)") }
            if byFile[file] == nil { order.append(file) }
            let images = (byFile[file]?.images ?? []) + [(image, shape, sha256)]
            byFile[file] = Case(model: model, file: file, images: images)
        }
        return order.compactMap { byFile[$0] }
    }

    /// All 115 torchvision weight enum entries and the design documents' three older files.
    @Test(.enabled(if: present))
    func everyOfficialFileHasACase() throws {
        let manifest = try ModelsManifest.embedded
        let files = Set(manifest.officialWeights.values.flatMap { $0.map(\.file) })
        #expect(files.count == 118)
        #expect(Set(Self.cases.map(\.file)) == files)
    }

    @Test(.enabled(if: present), arguments: cases)
    func preprocessingMatchesTorchvision(_ weightCase: Case) throws {
        let manifest = try ModelsManifest.embedded
        let official = try #require(manifest.officialWeights(fileName: weightCase.file))
        #expect(official.model == weightCase.model)
        let preprocessing = try manifest.preprocessing(model: weightCase.model, weightsFile: weightCase.file)
        for (image, shape, sha256) in weightCase.images {
            let decoded = try ImageDecoder.decode(contentsOf: Self.folder.appendingPathComponent(image))
            let tensor = try preprocessing.tensor(from: decoded)
            #expect(tensor.shape == shape, "\(image)")
            #expect(ImageOracle.sha256(tensor.storage.array) == sha256, "\(image): tensor differs from torchvision's")
        }
    }
}
