import Foundation

/// Asks Linux to back large buffers with 2 MB pages where the system allows it (transparent huge
/// pages in `madvise` mode, the common default). Loading resnet50 otherwise takes ~25,000 page faults
/// to first touch its 100 MB of parameters, a large share of the load; with huge pages it takes tens.
package enum HugePages {
    static let size = 2 << 20

    /// Call before the buffer is first written. Only the 2 MB-aligned interior is advised: the
    /// buffer's neighbours share its first and last pages.
    package static func advise(_ buffer: UnsafeMutableRawBufferPointer) {
        guard buffer.count >= size else { return }
        PageAdvice.advise(PageAdvice.hugePage, buffer.baseAddress, count: buffer.count, pageSize: size)
    }

    /// Maps every page of `buffer` about to be written in full, in one call instead of a page fault
    /// per 4 KB page on first touch (Linux 5.14's MADV_POPULATE_WRITE; older kernels refuse it and
    /// the pages fault in as before). Only whole pages inside the buffer are touched.
    package static func populate(_ buffer: UnsafeMutableRawBufferPointer) {
        guard buffer.count >= 4 * Int(getpagesize()) else { return }
        PageAdvice.advise(PageAdvice.populateWrite, buffer.baseAddress, count: buffer.count)
    }
}
