import Foundation
import PthKit
import Testing

@testable import PthKitModels

/// `VerificationTiming.inBackground`: `load` returns while the file is hashed, and nothing computed
/// from a file that fails its check gets out, whether or not the caller remembers to confirm.
struct BackgroundVerificationTests {
    static let input = Tensor(shape: [1, 3, 32, 32], storage: (0..<3072).map { Float($0 % 17) / 17 })

    @Test func aRenamedFileLoadsButNoOutputGetsOut() throws {
        let folder = try TemporaryFolder()
        let url = try OfficialFileVerificationTests.renamedFile(in: folder)
        let loaded = try ModelZoo.load("resnet18", weights: url, options: LoadOptions(verificationTiming: .inBackground))
        let verification = try #require(loaded.verification)
        let actual = SHA256.hexDigest(try [UInt8](Data(contentsOf: url)))
        let error = #expect(throws: CheckpointError.self) { try loaded.confirmVerified() }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("its name is the official resnet18-f37072fd.pth but its sha256 is \(actual.prefix(16))..., not f37072fd..."), "\(text)")
        #expect(verification.isFinished)
        // A caller who never confirms still gets the error, from every way out of the model.
        #expect(throws: CheckpointError.self) { try loaded.model(Self.input) }
        #expect(throws: CheckpointError.self) { try loaded.model.compiled(for: Self.input.shape).run(Self.input) }
        #expect(throws: CheckpointError.self) { try loaded.model.referenceForward(Self.input) }
        #expect(throws: CheckpointError.self) { try loaded.model.headInput(Self.input) }
        #expect(throws: CheckpointError.self) { try loaded.model.referenceHeadInput(Self.input) }
        #expect(throws: CheckpointError.self) { try loaded.model.trace(Self.input) }
    }

    /// A file that matches gives the same model as one checked before `load` returns, and is remembered.
    @Test func aMatchingFileIsConfirmedAndRemembered() throws {
        let folder = try TemporaryFolder()
        let url = try OfficialFileVerificationTests.renamedFile(in: folder)
        let digest = SHA256.hexDigest(try [UInt8](Data(contentsOf: url)))
        let cache = VerifiedFiles(file: folder.file("cache/verified-files.json"))
        var notes: [String] = []
        let (_, verification) = try ModelZoo.readCheckpoint(
            url, verify: false, sha256: digest.uppercased(), timing: .inBackground, verifiedFiles: cache, notes: &notes)
        #expect(try #require(verification).digest() == digest)
        let identity = try #require(try FileContents.read(url).identity)
        #expect(cache.verifiedDigest(path: url.standardizedFileURL.path, identity: identity, prefix: digest) == digest)
        // Remembered: the next read has nothing left to check.
        #expect(try ModelZoo.readCheckpoint(
            url, verify: false, sha256: digest, timing: .inBackground, verifiedFiles: cache, notes: &notes).verification == nil)
    }

    @Test func aGivenDigestIsCheckedWhateverTheName() throws {
        let folder = try TemporaryFolder()
        let official = try OfficialFileVerificationTests.renamedFile(in: folder)
        let url = folder.file("mine.pth")
        try FileManager.default.moveItem(at: official, to: url)
        let options = LoadOptions(sha256: "0123abcd", verificationTiming: .inBackground)
        let loaded = try ModelZoo.load("resnet18", weights: url, options: options)
        let error = #expect(throws: CheckpointError.self) { try loaded.confirmVerified() }
        #expect(error.map { "\($0)" }?.contains("not the 0123abcd... it was given to match") == true)
        #expect(throws: CheckpointError.self) { try ModelZoo.load("resnet18", weights: url, options: LoadOptions(sha256: "xyz")) }
    }

    /// A damaged official file that does not even parse is reported as damaged, not as its parse error.
    @Test func aFileThatDoesNotParseReportsTheHash() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("resnet50-19c8e357.pth")
        try Data([0x80, 0x02, 0x8a, 0x0a]).write(to: url)
        let error = #expect(throws: CheckpointError.self) {
            try ModelZoo.load("resnet50", weights: url, options: LoadOptions(verificationTiming: .inBackground))
        }
        #expect(error.map { "\($0)" }?.contains("its name is the official resnet50-19c8e357.pth but its sha256 is") == true)
    }
}

/// The commands check in the background and confirm before they show anything: a renamed official
/// file fails with one line and exit status 1, and no logits are written.
@Suite(.enabled(if: BoundedRun.isAvailable))
struct BackgroundVerificationCommandTests {
    @Test(arguments: [["run"], ["run", "--uncompiled"], ["run", "--features"], ["load-check"]])
    func aRenamedOfficialFileShowsNoResult(_ command: [String]) throws {
        let folder = try TemporaryFolder()
        let url = try OfficialFileVerificationTests.renamedFile(in: folder)
        let input = folder.file("input.npy"), output = folder.file("logits.npy")
        try NPY.write(BackgroundVerificationTests.input, to: input)
        let extra = command[0] == "run" ? ["--input", input.path, "--output", output.path] : []
        let result = try BoundedRun.run(
            [command[0], "resnet18", "--weights", url.path] + extra + command.dropFirst(),
            memoryMiB: 4096, seconds: 120, scratch: folder.url)
        let errors = String(decoding: result.errors, as: UTF8.self)
        #expect(result.status == 1 && !result.signaled, "\(errors)")
        #expect(errors.hasPrefix("error: ") && errors.contains("its name is the official resnet18-f37072fd.pth but its sha256 is"), "\(errors)")
        #expect(errors.split(separator: "\n").count == 1, "\(errors)")
        #expect(result.output.isEmpty, "\(String(decoding: result.output, as: UTF8.self))")
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }
}
