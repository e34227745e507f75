import Foundation
import PthKit
import Testing

/// One file from Scripts/make_checkpoint_fixtures.py (or make_format_fixtures.py) and what torch.load
/// (or torch.jit.load, or the safetensors package) made of it.
struct CheckpointCase: Sendable, CustomTestStringConvertible {
    struct ListedTensor: Sendable, Equatable {
        let key: String
        let dtype: String
        let shape: [Int]
        let sha256: String
    }

    let file: String
    let expectOK: Bool
    let format: String?
    let byteOrder: String?
    let tensors: [ListedTensor]
    let errorWords: [String]
    let forbiddenFile: String?
    /// Dotted path of a dict -> module path -> `_metadata` version.
    let metadata: [String: [String: Int]]
    /// A safetensors file's `__metadata__`.
    let safetensorsMetadata: [String: String]?

    var testDescription: String { file }

    static let folder = Fixtures.url("checkpoints")

    static func all(in folder: URL = folder) -> [CheckpointCase] {
        guard let object = try? Fixtures.json(folder.appendingPathComponent("manifest.json")),
              let cases = object["cases"] as? [[String: Any]] else { return [] }
        return cases.compactMap { entry in
            guard let file = entry["file"] as? String, let expect = entry["expect"] as? String else { return nil }
            let listing = entry["listing"] as? [String: Any]
            let tensors = (listing?["tensors"] as? [[String: Any]] ?? []).map {
                ListedTensor(
                    key: $0["key"] as? String ?? "?", dtype: $0["dtype"] as? String ?? "?",
                    shape: $0["shape"] as? [Int] ?? [], sha256: $0["sha256"] as? String ?? "")
            }
            var metadata: [String: [String: Int]] = [:]
            for (path, table) in entry["metadata"] as? [String: Any] ?? [:] {
                var versions: [String: Int] = [:]
                for (module, fields) in table as? [String: Any] ?? [:] {
                    if let version = (fields as? [String: Any])?["version"] as? Int { versions[module] = version }
                }
                metadata[path] = versions
            }
            return CheckpointCase(
                file: file, expectOK: expect == "ok", format: listing?["format"] as? String,
                byteOrder: listing?["byteorder"] as? String, tensors: tensors,
                errorWords: entry["error_contains"] as? [String] ?? [], forbiddenFile: entry["must_not_create"] as? String,
                metadata: metadata, safetensorsMetadata: listing?["metadata"] as? [String: String])
        }
    }
}

@Suite("Checkpoints read as torch.load reads them")
struct CheckpointFixtureTests {
    static let cases = CheckpointCase.all()

    @Test func fixturesArePresent() {
        #expect(Self.cases.count > 50, "Tests/Fixtures/checkpoints/manifest.json is missing or short")
    }

    @Test(arguments: cases)
    func matchesTorchLoad(_ fixture: CheckpointCase) throws {
        try Self.check(fixture, in: CheckpointCase.folder)
    }

    /// Reads the fixture's file and compares it with the listing (or the error) the oracle recorded.
    static func check(_ fixture: CheckpointCase, in folder: URL) throws {
        if let forbidden = fixture.forbiddenFile { try? FileManager.default.removeItem(atPath: forbidden) }
        let url = folder.appendingPathComponent(fixture.file)
        defer {
            if let forbidden = fixture.forbiddenFile {
                #expect(!FileManager.default.fileExists(atPath: forbidden), "loading ran code from the file")
            }
        }
        guard fixture.expectOK else {
            let error = #expect(throws: (any Error).self) { try Checkpoint.load(contentsOf: url) }
            let message = error.map { String(describing: $0) } ?? ""
            #expect(message.contains(url.path), "error does not name the file: \(message)")
            for word in fixture.errorWords {
                #expect(message.lowercased().contains(word.lowercased()), "\"\(word)\" not in: \(message)")
            }
            return
        }
        let checkpoint = try Checkpoint.load(contentsOf: url)
        #expect(checkpoint.format.rawValue == fixture.format)
        #expect(checkpoint.byteOrder.rawValue == fixture.byteOrder)
        let listed = checkpoint.tensors.map {
            CheckpointCase.ListedTensor(
                key: $0.key, dtype: $0.tensor.dtype.rawValue, shape: $0.tensor.shape, sha256: SHA256.hexDigest($0.tensor.bytes))
        }
        #expect(listed.map(\.key) == fixture.tensors.map(\.key))
        for (ours, torch) in zip(listed, fixture.tensors) { #expect(ours == torch) }
        #expect(checkpoint.safetensorsMetadata == fixture.safetensorsMetadata)

        for (path, versions) in fixture.metadata {
            let stateDict = try StateDict(checkpoint: checkpoint, key: path.isEmpty ? nil : path)
            let ours = (stateDict.metadata ?? [:]).compactMapValues { $0 }
            #expect(ours == versions, "_metadata of \"\(path)\"")
        }
    }
}
