import Foundation

/// Asks Linux to back large buffers with 2 MB pages where the system allows it (transparent huge
/// pages in `madvise` mode, the common default). Loading resnet50 otherwise takes ~25,000 page faults
/// to first touch its 100 MB of parameters, a large share of the load; with huge pages it takes tens.
enum HugePages {
    static let size = 2 << 20

    /// Call before the buffer is first written. Only the 2 MB-aligned interior is advised: the
    /// buffer's neighbours share its first and last pages.
    static func advise(_ buffer: UnsafeMutableRawBufferPointer) {
        #if os(Linux)
        guard buffer.count >= size, let base = buffer.baseAddress else { return }
        let address = Int(bitPattern: base)
        let first = (address + size - 1) / size * size
        let end = (address + buffer.count) / size * size
        guard end > first, let start = UnsafeMutableRawPointer(bitPattern: first) else { return }
        madvise(start, end - first, MADV_HUGEPAGE)
        #endif
    }
}
