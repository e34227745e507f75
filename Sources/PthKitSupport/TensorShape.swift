/// Shape arithmetic that both a checkpoint's tensors and the runtime's check their shapes with.
package enum TensorShape {
    /// Product of the dimensions, or nil when one is negative or the product overflows: shapes come
    /// from files, and are counted this way before anything is allocated for them. Inlinable: every
    /// kernel of the runtime checks its shapes with it.
    @inlinable
    package static func elementCount(of shape: [Int]) -> Int? {
        var total = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            total = product
        }
        return total
    }
}
