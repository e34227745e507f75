import Foundation
import PthKitSupport

/// A file's bytes, mapped read-only, shared by every tensor that is a region of them, so reading a
/// checkpoint copies each tensor's bytes once: from the page cache into the tensor's final buffer.
/// Files that cannot be mapped (pipes, devices, empty files) and in-memory bytes are held in an
/// allocation of their own instead.
///
/// A mapped file that another process truncates while it is read makes the next access to a lost
/// page a SIGBUS, as with `torch.load(mmap=True)`. Parameters that borrow the bytes (see
/// `TensorData.borrowedFloat32Storage`) keep the mapping, so this holds for as long as the model
/// does; `LoadOptions.copyWeights` copies instead for files that may change (README).
public final class FileContents: @unchecked Sendable {
    /// Immutable after `init`; valid until `deinit`.
    package let bytes: UnsafeRawBufferPointer
    private let isMapped: Bool
    /// The allocation holding bytes not mapped from a file (`bytes` may start inside it).
    private let allocation: UnsafeMutableRawPointer?
    private let lendingLock = NSLock()
    /// Set once a tensor borrows these bytes (`lend()`); from then on no page is let go.
    private var isLent = false
    /// The mapped file as `fstat` saw it when it was opened; nil for bytes not mapped from a file.
    public private(set) var identity: FileIdentity?

    /// What tells one version of a file from another without reading it: device, inode, size and
    /// modification time. A file with the same identity is taken to hold the same bytes.
    public struct FileIdentity: Codable, Equatable, Sendable {
        public let device: UInt64
        public let inode: UInt64
        public let size: Int64
        public let modifiedNanoseconds: Int64
    }

    /// Maps `url` (or reads it where it cannot be mapped).
    public static func read(_ url: URL) throws -> FileContents {
        let (descriptor, status) = try FileReading.openForReading(url)
        defer { close(descriptor) }
        guard (status.st_mode & S_IFMT) == S_IFREG, status.st_size > 0, status.st_size <= Int.max else {
            return FileContents(copying: try FileReading.bytes(of: url))
        }
        let size = Int(status.st_size)
        // mmap reports failure as MAP_FAILED, (void *)-1.
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), Int(bitPattern: address) != -1 else {
            return FileContents(copying: try FileReading.bytes(of: url))
        }
        let contents = FileContents(mapped: UnsafeRawBufferPointer(start: address, count: size))
        #if os(Linux)
        let modified = Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec)
        #else
        let modified = Int64(status.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(status.st_mtimespec.tv_nsec)
        #endif
        contents.identity = FileIdentity(
            device: UInt64(status.st_dev), inode: UInt64(status.st_ino), size: Int64(status.st_size), modifiedNanoseconds: modified)
        return contents
    }

    public init(copying source: [UInt8]) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(source.count, 1), alignment: 64)
        source.withUnsafeBytes { buffer.copyMemory(from: $0) }
        bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<source.count])
        allocation = buffer.baseAddress
        isMapped = false
    }

    private init(mapped: UnsafeRawBufferPointer) {
        bytes = mapped
        allocation = nil
        isMapped = true
    }

    /// A copy of `original`'s bytes placed so that byte `offset` starts a 64-byte line. A legacy
    /// checkpoint's storages all sit at the same distance from 4-byte alignment (each is an 8-byte
    /// count and a multiple of 4 bytes), and in many files that distance is not 0: float32 values
    /// cannot be read in place there, so one copy of the file, shifted, lets every storage be
    /// borrowed instead of each being converted into a buffer of its own. The copy holds the file's
    /// size, which the file's pages had already shown to be real.
    init(realigning original: FileContents, offset: Int) {
        let shift = (64 - offset % 64) % 64
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(original.count + shift, 1), alignment: 64)
        let destination = UnsafeMutableRawBufferPointer(rebasing: buffer[shift..<(shift + original.count)])
        // 2 MB pages: the copy then faults in ~50 huge pages, not ~25,000 small ones (measured on
        // resnet50's legacy file: about 22 ms instead of 80). Populating them first only adds time.
        HugePages.advise(destination)
        // Chunk by chunk, letting each chunk of the mapping go after it: the file is held once. The
        // cores share the chunks: clearing each fresh page and copying into it is most of the time,
        // and one core's stream is far from the memory's bandwidth.
        if let sourceBase = original.bytes.baseAddress, let targetBase = destination.baseAddress {
            // Raw pointers are not Sendable; each worker writes only the bytes of its own chunks.
            nonisolated(unsafe) let source = sourceBase, target = targetBase
            let chunkBytes = Self.copyChunkBytes
            let chunkCount = (original.count + chunkBytes - 1) / chunkBytes
            let workers = max(1, min(chunkCount, ProcessInfo.processInfo.activeProcessorCount))
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                // Whole runs of chunks per worker, so each fills its own huge pages.
                let first = chunkCount * worker / workers, end = chunkCount * (worker + 1) / workers
                let range = min(original.count, first * chunkBytes)..<min(original.count, end * chunkBytes)
                original.forEachChunk(of: range, chunkBytes: chunkBytes) { chunk in
                    guard let start = chunk.baseAddress else { return }
                    (target + (start - source)).copyMemory(from: start, byteCount: chunk.count)
                }
            }
        }
        allocation = buffer.baseAddress
        bytes = UnsafeRawBufferPointer(destination)
        isMapped = false
        identity = original.identity
    }

    /// The piece of a file copied (and its pages then let go) at a time; a multiple of 2 MB pages.
    private static let copyChunkBytes = 8 << 20

    deinit {
        if isMapped {
            munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
        } else {
            allocation?.deallocate()
        }
    }

    public var count: Int { bytes.count }

    /// Whether the bytes are the file's pages, mapped, rather than an allocation of their own.
    var isMappedFile: Bool { isMapped }

    /// Tells the kernel this process is done with `range` for now: its pages leave the process's
    /// resident memory (they stay in the page cache, and a later read maps them back). Converting a
    /// 500 MB checkpoint into a model then holds the model's bytes plus a chunk, not twice the model.
    func releaseResidentPages(_ range: Range<Int>) {
        guard !lendingLock.withLock({ isLent }) else { return }
        adviseNotNeeded(range)
    }

    /// Whole pages of `range` leave resident memory, whoever reads them: the mapping is private and
    /// read-only, so a page let go comes back unchanged from the file when it is read again.
    private func adviseNotNeeded(_ range: Range<Int>) {
        guard isMapped, let base = bytes.baseAddress else { return }
        PageAdvice.advise(PageAdvice.dontNeed, base + range.lowerBound, count: range.count)
    }

    /// Records that tensors now borrow these bytes (a model's parameters reading the file in place).
    /// Their pages are then never let go by `releaseResidentPages`: the mapping is private and
    /// read-only, so a page let go would come back from the file unchanged, but every forward pass
    /// (and the plan's packing) would fault it in again, and each chunk released to save memory
    /// during a load would be memory the model holds anyway.
    package func lend() {
        lendingLock.withLock { isLent = true }
    }

    /// Runs `body` over `range` in chunks of about `chunkBytes`, releasing each chunk's pages after
    /// it: how a whole-file pass (a hash, a checksum) reads a mapped file without keeping it resident.
    package func forEachChunk(of range: Range<Int>, chunkBytes: Int = 8 << 20, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = range.lowerBound
        while start < range.upperBound {
            let end = min(range.upperBound, start + chunkBytes)
            body(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
            releaseResidentPages(start..<end)
            start = end
        }
    }
}

extension FileContents {
    /// A borrowed region whose values the compiled plan copied into a layout of its own (a packed
    /// convolution's weights, which the compiled forward pass never reads here again): its pages
    /// leave resident memory even though the bytes are lent, so a model's weights are not held
    /// twice, once in the file's pages and once packed. Reading them again (the reference path,
    /// another plan) maps them back from the file.
    public func releasePages(ofCopied region: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, let start = region.baseAddress, start >= base,
              start + region.count <= base + bytes.count else { return }
        let offset = start - base
        adviseNotNeeded(offset..<(offset + region.count))
    }
}
