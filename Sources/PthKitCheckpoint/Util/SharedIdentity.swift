/// The identity of a value that a value graph may reach along many paths: a pickle's memo (PUT/GET,
/// DUP) shares lists, dicts and objects, and tuples too, whose elements live in one array buffer
/// however many parents hold them. Walks over such graphs remember what they visited by this key,
/// so each shared value is followed once and a few bytes of DUP + TUPLE2 cannot ask for 2^k steps.
///
/// A key is only meaningful while the value it was taken from is alive (the graph being walked
/// keeps it so), as an address is reused once its buffer is freed.
struct SharedIdentity: Hashable {
    private let address: UnsafeRawPointer
    private let count: Int

    init(_ object: AnyObject) {
        address = UnsafeRawPointer(Unmanaged.passUnretained(object).toOpaque())
        count = -1
    }

    /// The element buffer of `items`; nil when empty (Swift shares one empty buffer among arrays
    /// that share nothing).
    init?<Element>(_ items: [Element]) {
        guard let base = items.withUnsafeBufferPointer({ $0.baseAddress }), !items.isEmpty else { return nil }
        address = UnsafeRawPointer(base)
        count = items.count
    }
}
