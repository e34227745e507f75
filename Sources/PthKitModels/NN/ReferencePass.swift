import PthKitRuntime

/// Marks the task that runs `Module.referenceForward`: inside it, calling a module runs its
/// `forward` instead of a compiled plan.
enum ReferencePass {
    @TaskLocal static var isActive = false
    /// A module whose input ends the pass (`referenceHeadInput`): calling it throws `Stopped`.
    @TaskLocal static var stopBefore: ObjectIdentifier?

    struct Stopped: Error {
        let input: Tensor
    }
}
