import Foundation
import PthKitCheckpoint

/// Official weight files whose SHA-256 was already checked, remembered by path and file identity
/// (device, inode, size, modification time) in the user's cache folder, so loading the same
/// unchanged file again skips hashing it. Any change to the file changes its identity and it is
/// hashed again. The cache is an optimization: a cache that cannot be read or written is ignored.
struct VerifiedFiles: Sendable {
    struct Entry: Codable, Equatable, Sendable {
        let path: String
        let identity: FileContents.FileIdentity
        let sha256: String
    }

    /// At most this many files are remembered, the most recently verified first.
    static let capacity = 256

    let file: URL

    /// `$PTHKIT_CACHE_DIR`, else `$XDG_CACHE_HOME/pthkit`, else `~/.cache/pthkit`
    /// (`~/Library/Caches/pthkit` on Apple platforms).
    static var standard: VerifiedFiles {
        let environment = ProcessInfo.processInfo.environment
        let folder: URL
        if let explicit = environment["PTHKIT_CACHE_DIR"], !explicit.isEmpty {
            folder = URL(fileURLWithPath: explicit)
        } else if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            folder = URL(fileURLWithPath: xdg).appendingPathComponent("pthkit")
        } else {
            #if canImport(Darwin)
            folder = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent("Library/Caches/pthkit")
            #else
            folder = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/pthkit")
            #endif
        }
        return VerifiedFiles(file: folder.appendingPathComponent("verified-files.json"))
    }

    /// The digest remembered for this path and identity, if it starts with `prefix`.
    func verifiedDigest(path: String, identity: FileContents.FileIdentity, prefix: String) -> String? {
        entries().first { $0.path == path && $0.identity == identity && $0.sha256.hasPrefix(prefix) }?.sha256
    }

    func remember(_ entry: Entry) {
        var kept = entries().filter { $0.path != entry.path }
        kept.insert(entry, at: 0)
        guard let data = try? JSONEncoder().encode(Array(kept.prefix(Self.capacity))) else { return }
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        // Written beside and renamed, so a concurrent reader sees the old list or the new one.
        let temporary = file.deletingLastPathComponent().appendingPathComponent(".verified-files-\(UUID().uuidString)")
        guard (try? data.write(to: temporary)) != nil else { return }
        if rename(temporary.path, file.path) != 0 { try? FileManager.default.removeItem(at: temporary) }
    }

    private func entries() -> [Entry] {
        // The cache is ours but lives in the user's folder: a huge or malformed one is ignored.
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file.path),
              let size = attributes[.size] as? Int, size <= 1 << 20,
              let data = try? Data(contentsOf: file) else { return [] }
        return (try? JSONDecoder().decode([Entry].self, from: data)) ?? []
    }
}
