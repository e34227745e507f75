import Foundation
import Testing

/// Where the oracle's fixtures live: small ones committed under Tests/Fixtures, large ones generated
/// by `Scripts/test.sh` under Tests/Fixtures/generated.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func url(_ relativePath: String) -> URL {
        root.appendingPathComponent(relativePath)
    }

    /// `Scripts/test.sh` sets this: then a missing generated fixture is a failure, not a skip.
    static var generatedAreRequired: Bool {
        ProcessInfo.processInfo.environment["PTHKIT_REQUIRE_GENERATED_FIXTURES"] == "1"
    }

    static func json(_ url: URL) throws -> [String: Any] {
        let data = try Data(contentsOf: url)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FixtureError("\(url.path) is not a JSON object")
        }
        return object
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
