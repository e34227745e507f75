import Foundation

/// `madvise` on the whole pages inside a range of memory: its first and last partial pages may hold
/// a neighbour's bytes too, so they are left alone. Nothing on systems without Linux's advice values.
package enum PageAdvice {
    #if os(Linux)
    package static let dontNeed = MADV_DONTNEED
    static let hugePage = MADV_HUGEPAGE
    /// Linux 5.14's MADV_POPULATE_WRITE, not in every libc's headers; older kernels refuse it.
    static let populateWrite: Int32 = 23
    #else
    package static let dontNeed: Int32 = 0
    static let hugePage: Int32 = 0, populateWrite: Int32 = 0
    #endif

    /// Advises `advice` on the `pageSize`-aligned interior of `count` bytes at `base` (the system's
    /// page size unless given: huge-page advice aligns to 2 MB).
    package static func advise(_ advice: Int32, _ base: UnsafeRawPointer?, count: Int, pageSize: Int = Int(getpagesize())) {
        #if os(Linux)
        guard let base, count > 0 else { return }
        let address = Int(bitPattern: base)
        let first = (address + pageSize - 1) / pageSize * pageSize
        let end = (address + count) / pageSize * pageSize
        guard end > first, let start = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(start, end - first, advice)
        #endif
    }
}
