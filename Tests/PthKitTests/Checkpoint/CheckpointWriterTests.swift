import Foundation
import PthKit
@testable import PthKitCheckpoint
@testable import PthKitModels
import Testing

/// Values covering every dtype, torch's special floats and integer extremes, and every container.
enum WriterSamples {
    static func tensor<Element>(_ dtype: DType, _ shape: [Int], _ values: [Element]) -> CheckpointValue {
        .tensor(TensorData(dtype: dtype, shape: shape, bytes: values.withUnsafeBytes { Array($0) }))
    }

    static let everyDtype: [(String, CheckpointValue)] = [
        ("float32", tensor(.float32, [2, 5], [
            Float(0), -0.0, 1.5, .infinity, -.infinity, .nan, Float(bitPattern: 0x7F80_0001),
            .leastNonzeroMagnitude, .greatestFiniteMagnitude, -.leastNormalMagnitude,
        ])),
        ("float64", tensor(.float64, [5], [
            Double(0), -0.0, .infinity, Double(bitPattern: 0xFFF8_0000_0000_0001), .leastNonzeroMagnitude,
        ])),
        ("float16", tensor(.float16, [10], [
            UInt16(0x0000), 0x8000, 0x3C00, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0x0001, 0x03FF, 0x7BFF,
        ])),
        ("bfloat16", tensor(.bfloat16, [2, 5], [
            UInt16(0x0000), 0x8000, 0x3F80, 0x7F80, 0xFF80, 0x7FC0, 0x7F81, 0x0001, 0x007F, 0x7F7F,
        ])),
        ("int64", tensor(.int64, [5], [Int64.min, -1, 0, 1, Int64.max])),
        ("int32", tensor(.int32, [5], [Int32.min, -1, 0, 1, Int32.max])),
        ("int16", tensor(.int16, [5], [Int16.min, -1, 0, 1, Int16.max])),
        ("int8", tensor(.int8, [5], [Int8.min, -1, 0, 1, Int8.max])),
        ("uint8", tensor(.uint8, [5], [UInt8(0), 1, 127, 128, 255])),
        ("bool", tensor(.bool, [2, 2], [UInt8(0), 1, 1, 0])),
        ("empty", tensor(.float32, [0, 3], [Float]())),
        ("empty_last", tensor(.int64, [3, 0], [Int64]())),
        ("scalar", tensor(.int64, [], [Int64(42)])),
        ("scalar_double", tensor(.float64, [], [Double.pi])),
    ]

    /// 2**70 and -2**70, beyond Int64, as little-endian two's complement.
    static let bigPositive: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0x40]
    static let bigNegative: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0xC0]

    static let scalars: [CheckpointValue] = [
        .none, .bool(true), .bool(false), .int(0), .int(255), .int(256), .int(65535), .int(65536), .int(-1),
        .int(Int64(Int32.min)), .int(Int64(Int32.max)), .int(Int64(Int32.max) + 1), .int(Int64.min), .int(Int64.max),
        .bigInt(bigPositive), .bigInt(bigNegative), .float(3.25), .float(-0.0), .float(.infinity), .float(Double.leastNormalMagnitude / 4),
        .string(""), .string("héllo ✓"), .bytes([0, 255, 128, 10]),
        .tuple([]), .tuple([.int(1)]), .tuple([.int(1), .string("two")]), .tuple([.int(1), .int(2), .int(3)]),
        .tuple([.int(1), .int(2), .int(3), .tuple([.none])]),
    ]

    static let stateDict = CheckpointDict(
        entries: [
            (.string("conv.weight"), tensor(.float32, [2, 1, 1, 1], [Float(1), 2])),
            (.string("bn.num_batches_tracked"), tensor(.int64, [], [Int64(7)])),
        ],
        metadata: ["": 1, "conv": 1, "bn": 2, "unversioned": nil])

    /// More items than one SETITEMS/APPENDS batch holds.
    static let long: CheckpointValue = .list((0..<2500).map { .int(Int64($0)) })
    static let wide: CheckpointValue = .dict(CheckpointDict(entries: (0..<1500).map { (.string("k\($0)"), .int(Int64($0))) }))

    static let tree: CheckpointValue = .dict(CheckpointDict(entries: [
        (.string("tensors"), .dict(CheckpointDict(entries: everyDtype.map { (.string($0.0), $0.1) }))),
        (.string("scalars"), .list(scalars)),
        (.int(7), .string("int key")),
        (.tuple([.string("a"), .int(1)]), .string("tuple key")),
        (.string("state_dict"), .dict(stateDict)),
        (.string("empty_state_dict"), .dict(CheckpointDict(entries: [], metadata: [:]))),
        (.string("nested"), .list([.dict(CheckpointDict(entries: [(.string("x"), .tuple([long, wide]))]))])),
    ]))
}

@Suite("Checkpoints PthKit writes")
struct CheckpointWriterTests {
    // MARK: - PyTorch reads what PthKit writes

    @Test(.enabled(if: PythonOracle.shouldRun)) func torchLoadsEveryValueExactly() throws {
        try PythonOracle.require()
        let folder = try TemporaryFolder()
        let url = folder.file("every_value.pth")
        try CheckpointWriter.write(WriterSamples.tree, to: url)
        let result = try PythonOracle.run("check_written_checkpoint.py", [url.path])
        #expect(CheckpointDescription.matches(result["value"], WriterSamples.tree), "torch.load differs: \(result)")
        #expect(result["aligned"] as? Bool == true)
        #expect(result["prefix"] as? String == "every_value")
        #expect(result["byteorder"] as? String == "little")
        let storages = WriterSamples.tree.flattenedTensors().count
        #expect(result["records"] as? [String] == ["data.pkl", ".format_version", ".storage_alignment", "byteorder"]
            + (0..<storages).map { "data/\($0)" } + ["version", ".data/serialization_id"])
    }

    static let convertibleFixtures: [String] = CheckpointCase.all()
        .filter { $0.expectOK && !$0.file.hasPrefix("hostile_") }
        .map(\.file)
        .filter { file in
            guard let checkpoint = try? Checkpoint.load(contentsOf: CheckpointCase.folder.appendingPathComponent(file)) else { return false }
            return isWritable(checkpoint.root)
        }

    @Test func enoughFixturesAreConvertible() {
        // dtypes, views, state dicts, training, containers, rebuilds, byte orders, zip variants: zip and legacy.
        #expect(Self.convertibleFixtures.count >= 30, "\(Self.convertibleFixtures)")
    }

    /// Every convertible fixture, written by PthKit and judged by one PyTorch process (starting one
    /// per file would cost a torch import each).
    @Test(.enabled(if: PythonOracle.shouldRun)) func convertedFixturesEqualTorchLoad() throws {
        try PythonOracle.require()
        let folder = try TemporaryFolder()
        var pairs: [[String: String]] = []
        for file in Self.convertibleFixtures {
            let original = CheckpointCase.folder.appendingPathComponent(file)
            let written = folder.file(file)
            try CheckpointWriter.write(try Checkpoint.load(contentsOf: original).root, to: written)
            pairs.append(["written": written.path, "compare": original.path])
        }
        let list = folder.file("pairs.json")
        try JSONSerialization.data(withJSONObject: pairs).write(to: list)
        let results = try #require(
            try PythonOracle.run("check_written_checkpoint.py", ["--pairs", list.path])["results"] as? [String: [String: Any]])
        #expect(results.count == pairs.count)
        for (file, pair) in zip(Self.convertibleFixtures, pairs) {
            let result = results[pair["written"] ?? ""] ?? [:]
            #expect(result["equal"] as? Bool == true, "\(file): \(result["difference"] ?? "no verdict")")
            #expect(result["aligned"] as? Bool == true, "\(file)")
        }
    }

    @Test(.enabled(if: PythonOracle.shouldRun)) func savedResNetLoadsStrictlyIntoTorchvision() throws {
        try PythonOracle.require()
        let folder = try TemporaryFolder()
        let url = folder.file("resnet18.pth")
        let model = try ModelZoo.build("resnet18", arguments: ModelArguments(["num_classes": "7"]))
        try model.saveStateDict(to: url)
        let result = try PythonOracle.run("load_state_dict_in_torchvision.py", ["resnet18", url.path, "num_classes=7"])
        let torchTensors = result["tensors"] as? [String: [String: Any]] ?? [:]
        let ours = model.stateDictForSaving()
        #expect(torchTensors.count == ours.entries.count)
        for (key, tensor) in ours.entries {
            let theirs = torchTensors[key]
            #expect(theirs?["sha256"] as? String == SHA256.hexDigest(tensor.bytes), "\(key) differs")
            #expect(theirs?["dtype"] as? String == tensor.dtype.rawValue, "\(key) dtype")
            #expect(theirs?["shape"] as? [Int] == tensor.shape, "\(key) shape")
        }
        #expect(torchTensors["bn1.num_batches_tracked"]?["dtype"] as? String == "int64")
        let metadata = result["metadata"] as? [String: Int] ?? [:]
        #expect(metadata["bn1"] == 2 && metadata["layer1.0.bn2"] == 2 && metadata[""] == 1 && metadata["fc"] == 1)
    }

    // MARK: - What `pthkit convert` does, checked against torch's own edits

    @Test(.enabled(if: PythonOracle.shouldRun), arguments: [
        ConvertCase(file: "training_zip.pth", key: "state_dict", stripPrefixes: ["features."]),
        ConvertCase(file: "training_legacy.pth", key: "state_dict"),
        ConvertCase(file: "state_dict_zip.pth", stripPrefixes: ["features.", "0."]),
        ConvertCase(file: "dtypes_zip.pth", cast: true),
        ConvertCase(file: "big_endian_legacy.pth", cast: true),
        ConvertCase(file: "big_endian_zip.pth", key: "vector", cast: true),
    ])
    func convertOptionsMatchTorch(_ fixture: ConvertCase) throws {
        try PythonOracle.require()
        let folder = try TemporaryFolder()
        let original = CheckpointCase.folder.appendingPathComponent(fixture.file)
        let written = folder.file(fixture.file)
        var value = try Checkpoint.load(contentsOf: original).value(atKey: fixture.key)
        for prefix in fixture.stripPrefixes { value = value.strippingPrefix(prefix) }
        if fixture.cast {
            let cast = value.castingToFloat32([.float16, .bfloat16])
            #expect(!cast.castKeys.isEmpty)
            value = cast.value
        }
        try CheckpointWriter.write(value, to: written)
        var arguments = [written.path, "--compare", original.path]
        if let key = fixture.key { arguments += ["--key", key] }
        for prefix in fixture.stripPrefixes { arguments += ["--strip-prefix", prefix] }
        if fixture.cast { arguments.append("--cast-float32") }
        let result = try PythonOracle.run("check_written_checkpoint.py", arguments)
        #expect(result["equal"] as? Bool == true, "\(result["difference"] ?? "?")")
    }

    @Test func castingKeepsEveryFiniteValueAndQuietsHalfNaNs() throws {
        let half = TensorData(dtype: .float16, shape: [4], bytes: [UInt16(0x0001), 0x7BFF, 0x7C01, 0xFC00].withUnsafeBytes { Array($0) })
        let brain = TensorData(dtype: .bfloat16, shape: [2], bytes: [UInt16(0x7F81), 0x0001].withUnsafeBytes { Array($0) })
        let bits = { (tensor: TensorData) in tensor.castToFloat32().bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) } }
        #expect(bits(half) == [0x3380_0000, 0x477F_E000, 0x7FC0_2000, 0xFF80_0000])
        #expect(bits(brain) == [0x7F81_0000, 0x0001_0000])
    }

    // MARK: - PthKit reads what PthKit writes

    @Test func roundTripsThroughPthKit() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("round trip.pth")
        try CheckpointWriter.write(WriterSamples.tree, to: url)
        let checkpoint = try Checkpoint.load(contentsOf: url)
        #expect(checkpoint.format == .zip && checkpoint.byteOrder == .little)
        let read = CheckpointDescription.of(checkpoint.root) as? NSObject
        #expect(read?.isEqual(CheckpointDescription.of(WriterSamples.tree) as? NSObject) == true)
    }

    @Test func everyRecordIsAlignedTo64Bytes() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("aligned.pth")
        try CheckpointWriter.write(WriterSamples.tree, to: url)
        let expected = 4 + WriterSamples.tree.flattenedTensors().count + 2
        let entries = try ZipLocalHeaders.entries(of: url, count: expected)
        #expect(entries.count == expected)
        for entry in entries { #expect(entry.dataOffset % 64 == 0, "\(entry.name) at \(entry.dataOffset)") }
        #expect(entries.first?.name == "aligned/data.pkl")
        #expect(!FileManager.default.fileExists(atPath: url.path + ".partial"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.url.path)
        #expect(leftovers == ["aligned.pth"], "temporary files left behind: \(leftovers)")
    }

    @Test func savedModuleRoundTripsThroughLoadStateDict() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("lenet.pth")
        let model = try ModelZoo.build("resnet18", arguments: ModelArguments(["num_classes": "3"]))
        try model.saveStateDict(to: url)
        let stateDict = try StateDict(checkpoint: try Checkpoint.load(contentsOf: url))
        #expect(stateDict.keys == model.stateDict().map(\.key))
        #expect(stateDict.metadata?["bn1"] == 2)
        let fresh = try ModelZoo.build("resnet18", arguments: ModelArguments(["num_classes": "3"]))
        _ = try fresh.loadStateDict(stateDict, strict: true)
        for ((key, mine), (_, theirs)) in zip(model.stateDict(), fresh.stateDict()) {
            #expect(mine.value.storage == theirs.value.storage, "\(key)")
        }
    }

    @Test func pickleIntegersRoundTrip() throws {
        let numbers: [Int64] = [0, 1, 255, 256, 65535, 65536, -1, -256, Int64(Int32.min), Int64(Int32.max),
                                Int64(Int32.max) + 1, Int64(Int32.min) - 1, Int64.min, Int64.max, 1 << 40, -(1 << 40)]
        let pickle = PickleWriter.pickle(.list(PickleList(numbers.map { .int($0) })))
        let read = try pickle.withUnsafeBytes { try PickleMachine.load($0, from: 0) }
        #expect(read.value.asSequence?.compactMap(\.asInt) == numbers)
        #expect(read.end == pickle.count)
    }

    // MARK: - What cannot be written

    @Test(arguments: [
        ("opaque", CheckpointValue.dict(CheckpointDict(entries: [(.string("opaque"), .opaque(name: "os.system", arguments: []))]))),
        ("model", CheckpointValue.dict(CheckpointDict(entries: [(.string("model"), .module(typeName: "Net", stateDict: CheckpointDict()))]))),
        ("bad", CheckpointValue.dict(CheckpointDict(entries: [(.string("bad"), .tensor(TensorData(dtype: .float32, shape: [3], bytes: [1, 2])))]))),
    ])
    func unwritableValuesAreRefusedByPath(_ key: String, _ value: CheckpointValue) throws {
        let folder = try TemporaryFolder()
        let url = folder.file("refused.pth")
        let error = #expect(throws: CheckpointWriteError.self) { try CheckpointWriter.write(value, to: url) }
        #expect(error?.path == key)
        #expect(error?.description.contains(url.path) == true)
        #expect(!FileManager.default.fileExists(atPath: url.path))
    }

    @Test func pickledModulesBecomeTheirStateDicts() {
        let module = CheckpointValue.module(typeName: "Net", stateDict: WriterSamples.stateDict)
        let replaced = CheckpointValue.list([module]).replacingModulesWithStateDicts()
        #expect(replaced.replacedKeys == ["0"])
        #expect(isWritable(replaced.value))
    }

    @Test func writingFailsWithTheFileNamed() throws {
        let url = URL(fileURLWithPath: "/nonexistent-folder-\(UUID().uuidString)/out.pth")
        let error = #expect(throws: CheckpointWriteError.self) { try CheckpointWriter.write(.none, to: url) }
        #expect(error?.description.contains(url.path) == true)
    }
}

struct ConvertCase: Sendable, CustomTestStringConvertible {
    var file: String
    var key: String? = nil
    var stripPrefixes: [String] = []
    var cast = false

    var testDescription: String {
        ([file] + (key.map { ["--key \($0)"] } ?? []) + stripPrefixes.map { "--strip-prefix \($0)" }
            + (cast ? ["--cast-to-float32"] : [])).joined(separator: " ")
    }
}

/// Whether the tree holds only what `torch.load(weights_only=True)` can read back.
func isWritable(_ value: CheckpointValue) -> Bool {
    switch value {
    case .opaque, .module: return false
    case .list(let items), .tuple(let items): return items.allSatisfy(isWritable)
    case .dict(let dict): return dict.entries.allSatisfy { isWritable($0.key) && isWritable($0.value) }
    default: return true
    }
}

/// PyTorch is required where `Scripts/test.sh` runs the tests, optional elsewhere.
