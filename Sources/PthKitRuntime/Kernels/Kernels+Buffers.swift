import PthKitSupport

/// Where kernels get the arrays their results live in.
///
/// During a compiled plan's run (`PlanWorkspace.running`), a kernel's new output comes from the
/// buffers that run has finished with, so a model whose steps still run as reference kernels (a
/// transformer's layer norms, permutes, attention) reuses warm memory from run to run instead of
/// faulting in fresh pages for every tensor: fresh large arrays are mapped anew by malloc each time,
/// and zeroing their pages took a sixth of Swin-T's forward pass. Outside a run, plain new arrays.
extension Kernels {
    /// Room for `count` values that the caller overwrites entirely.
    static func uninitializedBuffer(count: Int) -> [Float] {
        // Empty requests never reach the workspace, which keys its spare buffers by size.
        guard count > 0 else { return [] }
        if let workspace = PlanWorkspace.running { return workspace.buffer(count: count) }
        return [Float](emptySafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    /// `count` zeros.
    static func zeroedBuffer(count: Int) -> [Float] {
        guard PlanWorkspace.running != nil else { return [Float](repeating: 0, count: count) }
        var buffer = uninitializedBuffer(count: count)
        buffer.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        return buffer
    }

    /// The address of `values`' first element, or nil when there are none to pass (an optional bias).
    static func withOptionalPointer<Result>(_ values: [Float]?, _ body: (UnsafePointer<Float>?) -> Result) -> Result {
        guard let values else { return body(nil) }
        return values.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
