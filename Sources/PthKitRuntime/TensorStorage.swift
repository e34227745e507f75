/// A tensor's float32 values: an array of their own, or a borrowed region of someone else's memory
/// (a mapped checkpoint's bytes, see `init(borrowing:keepingAlive:)`) kept alive for as long as any
/// copy of this storage holds it.
///
/// It reads like `[Float]` (a random-access collection with `withUnsafeBufferPointer`, equality,
/// array literals) and has its copy-on-write semantics: writing through any mutating member first
/// gives this storage an array of its own when the values are borrowed or shared, so a borrowed
/// region is never written and one tensor's write is never seen through another. Reading never
/// copies and takes no lock, so concurrent forward passes read borrowed weights as they read owned ones.
public struct TensorStorage: Sendable {
    private enum Backing: @unchecked Sendable {
        case owned([Float])
        /// The owner keeps `values` valid; nothing writes through `values` while it is borrowed.
        case borrowed(UnsafeBufferPointer<Float>, owner: AnyObject & Sendable)
    }

    private var backing: Backing

    public init(_ values: [Float]) {
        backing = .owned(values)
    }

    /// Borrows `values` without copying them. The caller guarantees that `owner` keeps them valid
    /// and unchanged for its lifetime (it is retained by every copy of this storage).
    public init(borrowing values: UnsafeBufferPointer<Float>, keepingAlive owner: AnyObject & Sendable) {
        backing = .borrowed(values, owner: owner)
    }

    /// Whether the values are a borrowed region rather than an array of this storage's own.
    public var isBorrowed: Bool {
        if case .borrowed = backing { return true }
        return false
    }

    /// Lets a borrowed region's memory go resident-wise once its values have been copied into another
    /// layout, when its owner can (`CopiedRegionPages`: a mapped file); nothing for owned values.
    func releaseBorrowedPagesAfterCopy() {
        releaseBorrowedPagesAfterCopy(elements: 0..<count)
    }

    /// `releaseBorrowedPagesAfterCopy` for the values in `elements` only (clamped to the storage).
    func releaseBorrowedPagesAfterCopy(elements: Range<Int>) {
        guard case .borrowed(let values, let owner) = backing, let pages = owner as? CopiedRegionPages else { return }
        let range = elements.clamped(to: 0..<values.count)
        guard !range.isEmpty else { return }
        pages.releasePages(ofCopied: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: values[range])))
    }

    /// The values as an array: the storage's own array when it has one (no copy), a copy when borrowed.
    public var array: [Float] {
        switch backing {
        case .owned(let values): return values
        case .borrowed(let values, _): return Array(values)
        }
    }

    /// The array this storage owns, nil when it borrows: what a buffer pool may take back without a copy.
    public var ownedArray: [Float]? {
        if case .owned(let values) = backing { return values }
        return nil
    }

    public func withUnsafeBufferPointer<Result>(_ body: (UnsafeBufferPointer<Float>) throws -> Result) rethrows -> Result {
        switch backing {
        case .owned(let values): return try values.withUnsafeBufferPointer(body)
        case .borrowed(let values, let owner): return try withExtendedLifetime(owner) { try body(values) }
        }
    }

    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try withUnsafeBufferPointer { try body(UnsafeRawBufferPointer($0)) }
    }

    /// Writes through a pointer to this storage's own values, copying them first when they are
    /// borrowed or shared with another storage.
    public mutating func withUnsafeMutableBufferPointer<Result>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        try withOwnedArray { try $0.withUnsafeMutableBufferPointer(body) }
    }

    /// Runs `body` on this storage's own array, unique when nothing else shares it so that `Array`
    /// writes it in place.
    private mutating func withOwnedArray<Result>(_ body: (inout [Float]) throws -> Result) rethrows -> Result {
        var values: [Float]
        switch backing {
        case .owned(let own): values = own
        case .borrowed(let borrowed, _): values = Array(borrowed)
        }
        // Drop this storage's reference so `values` is the only one left (no copy on write).
        backing = .owned([])
        defer { backing = .owned(values) }
        return try body(&values)
    }
}

extension TensorStorage: RandomAccessCollection, MutableCollection, RangeReplaceableCollection {
    public typealias Index = Int

    public init() {
        self.init([])
    }

    public var startIndex: Int { 0 }

    public var endIndex: Int {
        switch backing {
        case .owned(let values): return values.count
        case .borrowed(let values, _): return values.count
        }
    }

    public var count: Int { endIndex }

    public subscript(position: Int) -> Float {
        get {
            switch backing {
            case .owned(let values): return values[position]
            case .borrowed(let values, let owner):
                return withExtendedLifetime(owner) { values[position] }
            }
        }
        set { withOwnedArray { $0[position] = newValue } }
    }

    public func withContiguousStorageIfAvailable<Result>(
        _ body: (UnsafeBufferPointer<Float>) throws -> Result
    ) rethrows -> Result? {
        try withUnsafeBufferPointer(body)
    }

    public mutating func withContiguousMutableStorageIfAvailable<Result>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> Result
    ) rethrows -> Result? {
        try withUnsafeMutableBufferPointer(body)
    }

    public mutating func replaceSubrange<C: Collection>(_ subrange: Range<Int>, with newElements: C) where C.Element == Float {
        withOwnedArray { $0.replaceSubrange(subrange, with: newElements) }
    }

    public mutating func reserveCapacity(_ capacity: Int) {
        withOwnedArray { $0.reserveCapacity(capacity) }
    }
}

extension TensorStorage: ExpressibleByArrayLiteral, Equatable, CustomStringConvertible {
    public init(arrayLiteral elements: Float...) {
        self.init(elements)
    }

    /// Equal values (IEEE `==`, as `[Float]` compares them), wherever each side's values live.
    public static func == (lhs: TensorStorage, rhs: TensorStorage) -> Bool {
        lhs.withUnsafeBufferPointer { left in rhs.withUnsafeBufferPointer { right in left.elementsEqual(right) } }
    }

    public var description: String { array.description }
}

/// An owner of borrowed values that can let their resident pages go once they were copied elsewhere
/// (their values stay readable).
public protocol CopiedRegionPages: AnyObject {
    func releasePages(ofCopied region: UnsafeRawBufferPointer)
}
