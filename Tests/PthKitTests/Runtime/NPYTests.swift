import Foundation
import PthKit
import Testing

@Suite("NPY files")
struct NPYTests {
    static let folder = Fixtures.url("kernels")

    struct Entry: Decodable, Sendable, CustomTestStringConvertible {
        let file: String
        let expected: String?
        let error: String?
        var testDescription: String { file }
    }

    static let entries: [Entry] = {
        struct Index: Decodable { let npy: [Entry] }
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("cases.json")) else { return [] }
        return (try? JSONDecoder().decode(Index.self, from: data).npy) ?? []
    }()

    /// Files numpy wrote in other dtypes, byte orders and versions read as numpy's float32 cast.
    @Test(arguments: entries)
    func readsWhatNumpyWrote(_ entry: Entry) throws {
        let url = Self.folder.appendingPathComponent(entry.file)
        if let expectedError = entry.error {
            let error = try #require(throws: NPYError.self) { try NPY.read(contentsOf: url) }
            #expect(String(describing: error.problem).hasPrefix(expectedError), "\(error)")
            #expect(error.description.contains(entry.file))
            return
        }
        let tensor = try NPY.read(contentsOf: url)
        let expected = try NPY.read(contentsOf: Self.folder.appendingPathComponent(try #require(entry.expected)))
        #expect(tensor.shape == expected.shape)
        #expect(tensor.storage.map(\.bitPattern) == expected.storage.map(\.bitPattern))
    }

    @Test func coversTheDTypes() {
        #expect(Self.entries.count >= 15)
    }

    /// `encode` reproduces numpy.save byte for byte, for every float32 fixture numpy wrote.
    @Test func encodesLikeNumpySave() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter { $0.hasSuffix(".npy") }
        #expect(files.count > 100)
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent(file)))
            #expect(NPY.encode(try NPY.read(bytes, name: file)) == bytes, "\(file)")
        }
    }

    @Test func writesAndReadsBack() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pthkit-npy-\(UUID().uuidString).npy")
        defer { try? FileManager.default.removeItem(at: url) }
        for shape in [[], [0], [3], [2, 0, 4], [2, 3, 4]] {
            let count = shape.reduce(1, *)
            let tensor = Tensor(shape: shape, storage: (0..<count).map { Float($0) * 0.5 - 1 })
            try NPY.write(tensor, to: url)
            #expect(try NPY.read(contentsOf: url) == tensor)
            #expect(NPY.encode(tensor).count % 64 == (4 * count) % 64)
        }
        let bigHeader = Tensor(zeros: [Int](repeating: 1, count: 30_000))
        #expect(try NPY.read(NPY.encode(bigHeader), name: "big") == bigHeader)  // version 2.0 header
    }

    @Test func reportsAMissingFile() {
        let error = #expect(throws: NPYError.self) {
            try NPY.read(contentsOf: URL(fileURLWithPath: "/nonexistent/x.npy"))
        }
        #expect(error?.description.hasPrefix("/nonexistent/x.npy:") == true)
    }

    /// A file with `header` (padding added) and `data`, in format version `major`.
    static func file(_ header: String, data: [UInt8] = [], major: UInt8 = 1) -> [UInt8] {
        var text = Array(header.utf8)
        let prefix = major == 1 ? 10 : 12
        text += [UInt8](repeating: 0x20, count: (64 - (prefix + text.count + 1) % 64) % 64) + [0x0A]
        let length = major == 1
            ? [UInt8(text.count & 0xFF), UInt8(text.count >> 8)]
            : [UInt8(text.count & 0xFF), UInt8(text.count >> 8 & 0xFF), 0, 0]
        return [0x93] + Array("NUMPY".utf8) + [major, 0] + length + text + data
    }

    static let floats12: [UInt8] = [UInt8](repeating: 0, count: 12)

    @Test(arguments: [
        ("empty", [UInt8]()),
        ("not npy", Array("PK\u{3}\u{4}rest of a zip file".utf8)),
        ("version 4", [0x93] + Array("NUMPY".utf8) + [4, 0, 0, 0]),
        ("no header length", [0x93] + Array("NUMPY".utf8) + [1, 0, 5]),
        ("header beyond file", [0x93] + Array("NUMPY".utf8) + [1, 0, 0xFF, 0xFF, 0x7B]),
        ("v2 header beyond file", [0x93] + Array("NUMPY".utf8) + [2, 0, 0xFF, 0xFF, 0xFF, 0x7F, 0x7B]),
        ("not a dict", file("['descr', '<f4']", data: floats12)),
        ("unclosed dict", file("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)", data: floats12)),
        ("missing key", file("{'descr': '<f4', 'shape': (3,), }", data: floats12)),
        ("extra key", file("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': True, }", data: floats12)),
        ("repeated key", file("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", data: floats12)),
        ("unterminated string", file("{'descr': '<f4, 'fortran_order': False, 'shape': (3,), }", data: floats12)),
        ("bad dtype", file("{'descr': '<f3', 'fortran_order': False, 'shape': (3,), }", data: floats12)),
        ("no byte order", file("{'descr': 'f4', 'fortran_order': False, 'shape': (3,), }", data: floats12)),
        ("pipe on wide type", file("{'descr': '|f4', 'fortran_order': False, 'shape': (3,), }", data: floats12)),
        ("object dtype", file("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", data: floats12)),
        ("fortran order", file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data: floats12 + floats12)),
        ("fortran order not bool", file("{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }", data: floats12)),
        ("shape not tuple", file("{'descr': '<f4', 'fortran_order': False, 'shape': [3], }", data: floats12)),
        ("negative dimension", file("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", data: floats12)),
        ("nested shape", file("{'descr': '<f4', 'fortran_order': False, 'shape': ((3,),), }", data: floats12)),
        ("dimension overflow", file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }")),
        ("count overflow", file("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }")),
        ("bytes overflow", file("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }")),
        ("shape beyond data", file("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000,), }", data: floats12)),
        ("short data", file("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", data: floats12)),
        ("trailing data", file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data: floats12)),
        ("non-ascii", file("{'descr': '<f4\u{e9}', 'fortran_order': False, 'shape': (3,), }", data: floats12)),
        ("truncated header", Array(file("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }").prefix(30))),
    ] as [(String, [UInt8])])
    func rejectsHostileInput(_ name: String, _ bytes: [UInt8]) {
        let error = #expect(throws: NPYError.self) { try NPY.read(bytes, name: "hostile.npy") }
        #expect(error?.description.hasPrefix("hostile.npy: ") == true, "\(name)")
    }

    @Test func acceptsNumpyVariations() throws {
        // Double quotes, no trailing comma, Python 2 longs, extra blanks, version 2.
        let header = "{\"descr\": \"<f4\" , \"shape\": ( 3L , ) ,\"fortran_order\":False}"
        let data: [UInt8] = [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40]
        for major: UInt8 in [1, 2, 3] {
            let tensor = try NPY.read(Self.file(header, data: data, major: major), name: "v\(major)")
            #expect(tensor == Tensor(shape: [3], storage: [1, 2, 3]))
        }
        // A Fortran-ordered vector has C order's bytes.
        let vector = Self.file("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 3), }", data: data)
        #expect(try NPY.read(vector, name: "f").storage == [1, 2, 3])
    }

    /// Every truncation and many random corruptions of a valid file are errors or values, never a trap.
    @Test func survivesCorruption() throws {
        let valid = NPY.encode(Tensor(shape: [2, 3], storage: [1, 2, 3, 4, 5, 6]))
        for length in 0..<valid.count {
            #expect(throws: NPYError.self) { try NPY.read(Array(valid.prefix(length)), name: "cut") }
        }
        var generator = SplitMix(seed: 42)
        for _ in 0..<3000 {
            var bytes = valid
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let index = Int(generator.next() % UInt64(bytes.count))
                bytes[index] = UInt8(truncatingIfNeeded: generator.next())
            }
            _ = try? NPY.read(bytes, name: "fuzz")
        }
    }

    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
