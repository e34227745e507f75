extension Array {
    /// `Array(unsafeUninitializedCapacity:initializingWith:)`, except that a capacity of 0 gives a
    /// plain empty array without calling `initialize`.
    ///
    /// Why: the standard initializer with capacity 0 stores its count into Swift's one shared
    /// empty-array storage, a write ThreadSanitizer reports as racing with every other thread that
    /// reads any empty array (a zero-byte file read while another test parsed a pickle).
    ///
    /// Inlinable so that every module's call is specialized for its element type, as the standard
    /// initializer it wraps would be, rather than run through a generic entry point.
    @inlinable
    package init(
        emptySafeUninitializedCapacity capacity: Int,
        initializingWith initialize: (inout UnsafeMutableBufferPointer<Element>, inout Int) throws -> Void
    ) rethrows {
        guard capacity > 0 else {
            self = []
            return
        }
        try self.init(unsafeUninitializedCapacity: capacity, initializingWith: initialize)
    }
}
