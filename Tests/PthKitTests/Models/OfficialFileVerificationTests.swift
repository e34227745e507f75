import Foundation
import PthKit
import Testing

@testable import PthKitCheckpoint
@testable import PthKitModels

/// A file named like an official weight file must carry that file's hash, unless it was verified
/// before and has not changed since, or the user asked not to check.
struct OfficialFileVerificationTests {
    /// A random resnet18 state dict under resnet18's official name: its hash cannot match.
    static func renamedFile(in folder: borrowing TemporaryFolder) throws -> URL {
        let url = folder.file("resnet18-f37072fd.pth")
        let model = try Initialization.withSeed(5) { try ModelZoo.build("resnet18") }
        try model.saveStateDict(to: url)
        return url
    }

    @Test func aWrongHashIsAnErrorNamingBothDigests() throws {
        let folder = try TemporaryFolder()
        let url = try Self.renamedFile(in: folder)
        let cache = VerifiedFiles(file: folder.file("cache/verified-files.json"))
        var notes: [String] = []
        let error = #expect(throws: CheckpointError.self) {
            try ModelZoo.readCheckpoint(url, verifiedFiles: cache, notes: &notes)
        }
        let actual = SHA256.hexDigest(try [UInt8](Data(contentsOf: url)))
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("f37072fd") && text.contains(String(actual.prefix(16))), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: cache.file.path), "a failed check must not be remembered")
    }

    @Test func noVerifySkipsTheCheckWithANotice() throws {
        let folder = try TemporaryFolder()
        let url = try Self.renamedFile(in: folder)
        let loaded = try ModelZoo.load(
            "resnet18", weights: url, options: LoadOptions(verifyOfficialFiles: false))
        #expect(loaded.notes.contains { $0.contains("--no-verify") })
    }

    @Test func aRememberedUnchangedFileIsNotHashedAgain() throws {
        let folder = try TemporaryFolder()
        let url = try Self.renamedFile(in: folder)
        let cache = VerifiedFiles(file: folder.file("cache/verified-files.json"))
        let identity = try #require(try FileContents.read(url).identity)
        // As if this file had been verified before: the cache is trusted for the same identity...
        cache.remember(.init(path: url.standardizedFileURL.path, identity: identity, sha256: "f37072fd" + String(repeating: "0", count: 56)))
        var notes: [String] = []
        _ = try ModelZoo.readCheckpoint(url, verifiedFiles: cache, notes: &notes)
        // ...and not once the file changes.
        let later = Date(timeIntervalSinceNow: 60)
        try FileManager.default.setAttributes([.modificationDate: later], ofItemAtPath: url.path)
        #expect(throws: CheckpointError.self) { try ModelZoo.readCheckpoint(url, verifiedFiles: cache, notes: &notes) }
    }

    @Test func theCacheIgnoresGarbage() throws {
        let folder = try TemporaryFolder()
        let cache = VerifiedFiles(file: folder.file("verified-files.json"))
        try Data("not json".utf8).write(to: cache.file)
        let identity = FileContents.FileIdentity(device: 1, inode: 2, size: 3, modifiedNanoseconds: 4)
        #expect(cache.verifiedDigest(path: "/x", identity: identity, prefix: "") == nil)
        cache.remember(.init(path: "/x", identity: identity, sha256: "abcd"))
        #expect(cache.verifiedDigest(path: "/x", identity: identity, prefix: "ab") == "abcd")
        #expect(cache.verifiedDigest(path: "/y", identity: identity, prefix: "ab") == nil)
    }
}
