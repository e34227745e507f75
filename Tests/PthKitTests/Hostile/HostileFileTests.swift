import Foundation
import PthKit
import Testing

/// One case of Tests/Fixtures/hostile/manifest.json, written by Scripts/make_hostile_fixtures.py.
struct HostileCase: Sendable, CustomTestStringConvertible {
    let file: String
    let kind: String
    let command: [String]
    let expectOK: Bool
    let errorWords: [String]
    let memoryMiB: Int
    let seconds: Int
    /// load-check may follow its `error:` line with torch's multi-line text.
    let firstLineOnly: Bool

    var testDescription: String { file }

    static let folder = Fixtures.url("hostile")

    static func all() -> [HostileCase] {
        guard let object = try? Fixtures.json(folder.appendingPathComponent("manifest.json")),
              let cases = object["cases"] as? [[String: Any]] else { return [] }
        return cases.compactMap { entry in
            guard let file = entry["file"] as? String, let command = entry["command"] as? [String] else { return nil }
            return HostileCase(
                file: file, kind: entry["class"] as? String ?? "?", command: command,
                expectOK: entry["expect"] as? String == "ok", errorWords: entry["error_contains"] as? [String] ?? [],
                memoryMiB: entry["memory_mib"] as? Int ?? 1024, seconds: entry["seconds"] as? Int ?? 20,
                firstLineOnly: entry["first_line_only"] as? Bool ?? false)
        }
    }
}

@Suite("Hostile files: bounded time and memory, one clean error line")
struct HostileFileTests {
    static let cases = HostileCase.all()

    @Test func fixturesArePresent() {
        #expect(Self.cases.count >= 20, "Tests/Fixtures/hostile/manifest.json is missing or short")
        for kind in ["overflow", "expand", "shared", "paths", "names", "image"] {
            #expect(Self.cases.contains { $0.kind == kind }, "no \(kind) case")
        }
    }

    @Test func commandAndLimitsAreThere() {
        #expect(BoundedRun.pthkit != nil, "pthkit is not built next to the test bundle")
        #expect(BoundedRun.prlimitIsAvailable, "prlimit and timeout (util-linux, coreutils) are needed")
    }

    @Test(.enabled(if: BoundedRun.isAvailable), arguments: cases)
    func staysBounded(_ fixture: HostileCase) throws {
        let scratch = try TemporaryFolder()
        let arguments = fixture.command.map {
            $0.replacingOccurrences(of: "{file}", with: HostileCase.folder.appendingPathComponent(fixture.file).path)
                .replacingOccurrences(of: "{out}", with: scratch.file("output").path)
        }
        let result = try BoundedRun.run(
            arguments, memoryMiB: fixture.memoryMiB, seconds: fixture.seconds, scratch: scratch.url)
        let errors = String(decoding: result.errors, as: UTF8.self)
        #expect(!result.signaled, "killed or crashed (status \(result.status)) within \(fixture.memoryMiB) MiB / \(fixture.seconds) s: \(errors.prefix(500))")
        guard !result.signaled else { return }
        if fixture.expectOK {
            #expect(result.status == 0, "failed: \(errors.prefix(500))")
            return
        }
        #expect(result.status == 1, "exit status \(result.status)")
        if fixture.firstLineOnly {
            let lines = result.errors.split(separator: 0x0A, omittingEmptySubsequences: false)
            Self.expectOneCleanErrorLine(Data(lines[0]) + Data([0x0A]))
            #expect(!result.errors.contains { ($0 < 0x20 && $0 != 0x0A && $0 != 0x09) || $0 == 0x7F }, "control bytes")
        } else {
            Self.expectOneCleanErrorLine(result.errors)
        }
        for word in fixture.errorWords {
            #expect(errors.contains(word), "\"\(word)\" not in: \(errors.prefix(500))")
        }
    }

    /// `error: ...` and a newline, nothing else: no control bytes, no escape sequences, bounded length.
    static func expectOneCleanErrorLine(_ bytes: Data, sourceLocation: SourceLocation = #_sourceLocation) {
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("error: "), "\(text.prefix(300))", sourceLocation: sourceLocation)
        #expect(text.hasSuffix("\n"), sourceLocation: sourceLocation)
        let body = bytes.dropLast()
        #expect(!body.contains { $0 < 0x20 || $0 == 0x7F }, "control bytes in: \(text.prefix(300))", sourceLocation: sourceLocation)
        #expect(body.count < 2000, "error line of \(body.count) bytes", sourceLocation: sourceLocation)
    }
}

@Suite("Hostile values, in the library")
struct HostileValueTests {
    /// `DUP TUPLE2` k times over one tensor: 2^k paths. Within the bound it loads, each path sharing
    /// one tensor; past it the pickle machine refuses before anything walks it.
    @Test func sharedReferencesAreBoundedByTheStream() throws {
        func pickle(doublings: Int) -> [UInt8] {
            [0x80, 0x02, 0x4B, 0x07] + Array(repeating: [0x32, 0x86], count: doublings).flatMap { $0 } + [0x2E]
        }
        let small = try PickleMachine.load(pickle(doublings: 12))
        guard case .tuple(let pair) = small else { Issue.record("not a tuple"); return }
        #expect(pair.count == 2)
        #expect(throws: PickleError.self) { try PickleMachine.load(pickle(doublings: 40)) }
        let bound = PickleMachine.maximumExpansion(streamBytes: 84)
        #expect(bound > 1 << 12 && bound < 1 << 17)
    }

    @Test func safeTextEscapesControlsAndCutsLongNames() {
        #expect(SafeText.escaped("a\nb\u{1B}[2J\0\t\r\u{202E}é") == "a\\nb\\x1b[2J\\x00\\t\\r\\u{202e}é")
        #expect(SafeText.name(String(repeating: "k", count: 100), limit: 10) == "kkkkkkkkkk…")
        #expect(SafeText.escaped(SafeText.escaped("\u{7}")) == "\\x07", "escaping is idempotent")
    }
}
