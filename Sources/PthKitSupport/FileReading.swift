import Foundation

/// Whole-file reads into a byte array, the one shape every reader here parses from.
package enum FileReading {
    /// Opens `url` read-only with its `fstat`; a folder is an error. The caller closes the descriptor.
    package static func openForReading(_ url: URL) throws -> (descriptor: Int32, status: stat) {
        let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileReadingError(path: url.path, code: errno) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            close(descriptor)
            throw FileReadingError(path: url.path, code: code)
        }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            close(descriptor)
            throw FileReadingError(path: url.path, reason: "is a folder, not a file")
        }
        return (descriptor, status)
    }

    /// A regular file is read straight into the array with `read(2)`: going through `Data` would
    /// cost a second full copy, a large share of loading a checkpoint. Anything else (a pipe, a
    /// device) goes through `Data`.
    package static func bytes(of url: URL) throws -> [UInt8] {
        let (descriptor, status) = try openForReading(url)
        defer { close(descriptor) }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            return [UInt8](try Data(contentsOf: url))
        }
        let size = Int(status.st_size)
        var failure: Int32?
        let bytes = [UInt8](emptySafeUninitializedCapacity: size) { buffer, initialized in
            var filled = 0
            while filled < size, let base = buffer.baseAddress {
                let count = read(descriptor, base + filled, size - filled)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    failure = count < 0 ? errno : 0
                    break
                }
                filled += count
            }
            initialized = filled
        }
        if let failure {
            throw failure == 0 ? FileReadingError(path: url.path, reason: "shrank while being read") : FileReadingError(path: url.path, code: failure)
        }
        return bytes
    }
}

struct FileReadingError: Error, CustomStringConvertible {
    let path: String
    let reason: String

    init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    init(path: String, code: Int32) {
        self.init(path: path, reason: String(cString: strerror(code)))
    }

    var description: String { reason }
}
