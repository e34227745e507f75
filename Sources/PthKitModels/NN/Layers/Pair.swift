/// A (height, width) pair for kernel sizes, strides and paddings; an integer literal means both,
/// as PyTorch's `_pair` does.
public struct Pair: Equatable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var height: Int
    public var width: Int

    public init(_ height: Int, _ width: Int) {
        self.height = height
        self.width = width
    }

    public init(integerLiteral value: Int) {
        self.init(value, value)
    }

    var tuple: (Int, Int) { (height, width) }

    public var description: String { height == width ? "\(height)" : "(\(height), \(width))" }
}
