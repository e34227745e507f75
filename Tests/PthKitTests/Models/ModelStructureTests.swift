import Foundation
import PthKit
@testable import PthKitModels
import Testing

/// torch's `state_dict()` of every torchvision classification name (and of the design notebook's
/// builders PthKit serves under those names), from Scripts/make_structure_fixtures.py in
/// Tests/Fixtures/generated/structure: keys in order, shapes, dtypes and the parameter count.
struct StructureOracle: Sendable {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let model: String
        let arguments: [String: String]
        let parameters: Int
        /// (key, shape, dtype) in `state_dict()` order.
        let stateDict: [(key: String, shape: [Int], dtype: String)]

        var testDescription: String { name }
    }

    /// Every name of `torchvision.models.list_models(module=torchvision.models)`, default arguments.
    let models: [Case]
    let designDocVariants: [Case]

    static let folder = Fixtures.url("generated/structure")
    static let file = folder.appendingPathComponent("structure.json")
    static let shared = try? load()

    static func load() throws -> StructureOracle {
        let object = try Fixtures.json(file)
        func cases(_ key: String) throws -> [Case] {
            guard let table = object[key] as? [String: [String: Any]] else { throw FixtureError("\(file.path): no \(key)") }
            return try table.keys.sorted().map { name in
                let entry = table[name] ?? [:]
                guard let parameters = entry["parameters"] as? Int, let rows = entry["state_dict"] as? [[Any]] else {
                    throw FixtureError("\(file.path): \(name) lacks parameters or state_dict")
                }
                let stateDict = try rows.map { row -> (key: String, shape: [Int], dtype: String) in
                    guard row.count == 3, let key = row[0] as? String, let shape = row[1] as? [Int], let dtype = row[2] as? String
                    else { throw FixtureError("\(file.path): \(name) has a malformed state_dict row") }
                    return (key, shape, dtype)
                }
                return Case(
                    name: name, model: entry["model"] as? String ?? name, arguments: entry["args"] as? [String: String] ?? [:],
                    parameters: parameters, stateDict: stateDict)
            }
        }
        return StructureOracle(models: try cases("models"), designDocVariants: try cases("design_doc_variants"))
    }
}

@Suite("Model structure matches torch's state_dict()")
struct ModelStructureTests {
    static let oracle = StructureOracle.shared
    static let present = oracle != nil || Fixtures.generatedAreRequired
    static let built = oracle?.models ?? []

    @Test(.enabled(if: present))
    func everyTorchvisionNameIsBuilt() throws {
        let oracle = try Self.requireOracle()
        #expect(oracle.models.count == 80, "torchvision 0.29 lists 80 classification models")
        let names = Set(oracle.models.map(\.name))
        let zoo = Set(ModelZoo.names)
        let missing = names.subtracting(zoo).sorted()
        #expect(missing.isEmpty, "torchvision names PthKit does not build: \(missing)")
    }

    /// Also the manifest: every torchvision name has its official files listed, built or not.
    @Test(.enabled(if: present))
    func everyTorchvisionNameHasItsOfficialFiles() throws {
        let oracle = try Self.requireOracle()
        let manifest = try ModelsManifest.embedded
        for model in oracle.models {
            #expect(!manifest.weights(for: model.name).isEmpty, "\(model.name)")
        }
        #expect(manifest.officialWeights.values.reduce(0) { $0 + $1.filter { $0.source == "torchvision" }.count } == 115)
    }

    @Test(.enabled(if: present), arguments: built)
    func torchvisionName(_ oracleCase: StructureOracle.Case) throws {
        try Self.compare(oracleCase)
    }

    @Test(.enabled(if: present), arguments: oracle?.designDocVariants ?? [])
    func designNotebookBuilder(_ oracleCase: StructureOracle.Case) throws {
        try Self.compare(oracleCase)
    }

    /// Building only records shapes: Conv2d and Linear values are drawn on first read, so the
    /// largest model built here (vgg19 today, vit_h_14 and regnet_y_128gf with 2.5 GB of float32
    /// parameters once they exist) must not make its parameters resident.
    @Test(.enabled(if: present && FileManager.default.fileExists(atPath: "/proc/self/statm")))
    func buildingTheLargestModelTouchesFewOfItsBytes() throws {
        let largest = try #require(Self.built.max { $0.parameters < $1.parameters })
        let before = try Self.residentBytes()
        let model = try ModelZoo.build(largest.model, arguments: ModelArguments(largest.arguments))
        let grown = try Self.residentBytes() - before
        let parameterBytes = 4 * model.parameterCount
        // Other suites run alongside, so the bound leaves them room; an eager build needs all of it.
        #expect(grown < max(parameterBytes / 4, 256 << 20), "building \(largest.name) grew resident memory by \(grown >> 20) MiB")
        let drawn = model.namedParameters().filter { $0.parameter.elementCount >= 1 << 20 && !$0.parameter.isAwaitingDraw }
        #expect(drawn.isEmpty, "values drawn while building: \(drawn.map(\.name))")
    }

    static func compare(_ oracleCase: StructureOracle.Case) throws {
        let model = try ModelZoo.build(oracleCase.model, arguments: ModelArguments(oracleCase.arguments))
        let ours = model.stateDict().map { (key: $0.key, shape: $0.parameter.shape, dtype: $0.parameter.dtype.rawValue) }
        #expect(ours.map(\.key) == oracleCase.stateDict.map(\.key), "keys or their order differ from torch's")
        let theirs = Dictionary(oracleCase.stateDict.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        for entry in ours {
            guard let expected = theirs[entry.key] else { continue }
            #expect(entry.shape == expected.shape, "\(entry.key): shape \(entry.shape), torch \(expected.shape)")
            #expect(entry.dtype == expected.dtype, "\(entry.key): dtype \(entry.dtype), torch \(expected.dtype)")
        }
        // What `pthkit summary` prints as the total.
        #expect(model.parameterCount == oracleCase.parameters)
    }

    static func requireOracle() throws -> StructureOracle {
        guard let oracle else { throw FixtureError("no \(StructureOracle.file.path): run Scripts/test.sh") }
        return oracle
    }

    /// Resident set size from /proc/self/statm.
    static func residentBytes() throws -> Int {
        let text = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { throw FixtureError("unexpected /proc/self/statm: \(text)") }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
