import PthKit
import Testing

/// Storage that owns its floats or borrows someone else's has `[Float]`'s value semantics: reads
/// see the borrowed values without a copy, and any write goes to an array of the writer's own.
struct TensorStorageTests {
    /// Memory lent to a storage, as a mapped checkpoint lends its bytes.
    final class Lender: @unchecked Sendable {
        let values: UnsafeMutableBufferPointer<Float>
        init(_ source: [Float]) {
            values = .allocate(capacity: source.count)
            _ = values.initialize(from: source)
        }
        deinit { values.deallocate() }
        var storage: TensorStorage { TensorStorage(borrowing: UnsafeBufferPointer(values), keepingAlive: self) }
    }

    @Test func aBorrowedStorageReadsTheLentValuesInPlace() {
        let lender = Lender([1, 2, 3, 4])
        let storage = lender.storage
        #expect(storage.isBorrowed)
        #expect(storage == [1, 2, 3, 4])
        #expect(Array(storage) == [1, 2, 3, 4])
        #expect(storage.ownedArray == nil)
        storage.withUnsafeBufferPointer { #expect($0.baseAddress == UnsafePointer(lender.values.baseAddress)) }
    }

    @Test func writingCopiesABorrowedStorageAndLeavesTheLenderUnchanged() {
        let lender = Lender([1, 2, 3, 4])
        let borrowed = lender.storage
        var written = borrowed
        written[1] = 20
        #expect(!written.isBorrowed)
        #expect(written == [1, 20, 3, 4])
        #expect(borrowed == [1, 2, 3, 4])
        #expect(Array(lender.values) == [1, 2, 3, 4])

        var scaled = borrowed
        scaled.withUnsafeMutableBufferPointer { values in
            #expect(values.baseAddress != lender.values.baseAddress)
            for index in values.indices { values[index] *= 2 }
        }
        #expect(scaled == [2, 4, 6, 8])
        #expect(Array(lender.values) == [1, 2, 3, 4])
    }

    @Test func anOwnedStorageIsCopiedOnWriteOnlyWhenShared() {
        var first = TensorStorage([Float](repeating: 1, count: 3))
        first[1] = 2
        let address = first.withUnsafeBufferPointer { $0.baseAddress }
        first[0] = 10
        first.withUnsafeMutableBufferPointer { $0[2] = 3 }
        // Unshared: written in place, no copy.
        #expect(first.withUnsafeBufferPointer { $0.baseAddress } == address)
        let second = first
        first[2] = 30
        #expect(first == [10, 2, 30])
        #expect(second == [10, 2, 3])
    }

    @Test func theArrayOfAnOwnedStorageIsSharedNotCopied() {
        let values: [Float] = [5, 6, 7]
        let storage = TensorStorage(values)
        #expect(storage.array.withUnsafeBufferPointer { $0.baseAddress } == values.withUnsafeBufferPointer { $0.baseAddress })
        #expect(storage.ownedArray == values)
    }

    @Test func aBorrowedStorageKeepsItsLenderAlive() {
        weak var watched: Lender?
        var storage: TensorStorage?
        do {
            let lender = Lender([7, 8])
            watched = lender
            storage = lender.storage
        }
        #expect(watched != nil)
        #expect(storage == [7, 8])
        storage = nil
        #expect(watched == nil)
    }

    @Test func rangeReplacingAndEqualityActLikeAnArray() {
        let lender = Lender([1, 2, 3])
        var storage = lender.storage
        storage.append(4)
        storage.removeFirst()
        #expect(storage == [2, 3, 4])
        #expect(Array(lender.values) == [1, 2, 3])
        #expect(TensorStorage([Float.nan]) != TensorStorage([Float.nan]))
        #expect(Tensor(shape: [3], storage: lender.storage) == Tensor(shape: [3], storage: [1, 2, 3]))
    }
}
