import CKernels
import Foundation

/// Running a batch image by image, when that keeps a network's activations in cache.
///
/// A batch of 8 224x224 images gives MobileNet and EfficientNet activations of 25-40 MB, past the
/// last-level cache, so every layer's output goes out to memory and comes back for the next; one
/// image's (3-5 MB) stays in L2 and L3. Their weights are small (14-22 MB), so reading them once
/// per image costs less than it saves. Networks whose weights outweigh their activations (VGG's 500 MB
/// of fully connected layers, ResNets) run the batch at once: there the batch is what amortizes
/// the weights. Measured at batch 8 on one thread (Zen 3): shufflenet_v2_x1_0 62 ms split against
/// 100 at once, mobilenet_v2 105-140 against 135-165; efficientnet_b0 and mobilenet_v3_large within
/// the noise either way.
///
/// Split, each image reads every weight again, the classifier's and the squeeze-excitation layers'
/// included, so the activations must outweigh the weights by a margin (`activationsPerWeight`).
/// On two threads at batch 8 (Zen 3, min of 8 runs, four alternating rounds), mobilenet_v3_large's
/// largest activation is 1.18x its weights: 36-53 ms split against 32-36 at once; mnasnet1_0 (1.11x)
/// 45-68 against 43-56; mobilenet_v2 (2.78x) 56-59 against 56-68 still gains from the split;
/// efficientnet_b0 (1.84x) and shufflenet_v2_x1_0 (1.07x) were within the noise either way.
package enum BatchSplitting {
    /// How many times all the weights the largest activation must hold for the split to pay.
    static let activationsPerWeight = 1.5

    /// Whether a plan for the batch traced in `batched` should run image by image, given the same
    /// model traced for one image in `single`: every value the input reaches must have the batch
    /// as its first dimension and the one-image shape otherwise (so no step mixes images), and the
    /// largest activation must outweigh all the weights `activationsPerWeight` times.
    package static func worthwhile(batched: PlanTracer, single: PlanTracer, batch: Int) -> Bool {
        guard batch > 1, batched.nodes.count == single.nodes.count, batched.shapes.count == single.shapes.count else {
            return false
        }
        // Values computed from the input; constants and what is made from them alone keep their shape.
        var fromInput = [Bool](repeating: false, count: batched.shapes.count)
        var weightFloats = 0
        for (node, singleNode) in zip(batched.nodes, single.nodes) {
            guard node.inputs == singleNode.inputs, node.outputs == singleNode.outputs else { return false }
            switch node.operation {
            case .input: for value in node.outputs { fromInput[value] = true }
            case .convolution(let weights): weightFloats += weights.weight.count
            case .linear(let weight, _): weightFloats += weight.count
            default: break
            }
            if node.inputs.contains(where: { fromInput[$0] }) {
                for value in node.outputs { fromInput[value] = true }
            }
        }
        var largest = 0
        for value in batched.shapes.indices {
            let (shape, one) = (batched.shapes[value], single.shapes[value])
            if fromInput[value] {
                guard shape.count == one.count, let first = one.first, shape.first == first * batch,
                    shape.dropFirst() == one.dropFirst()
                else { return false }
                largest = max(largest, shape.reduce(1, *))
            } else if shape != one {
                return false
            }
        }
        return Double(largest) > Double(weightFloats) * activationsPerWeight
    }

    /// Runs `imagePlan` on each image of `input` and stacks the outputs. With more than one compute
    /// thread, the images run side by side, each thread running whole images with its kernels kept
    /// on that thread: no hand-offs between threads inside a layer, and each core's cache holds its
    /// own image. Measured on 2 cores, mobilenet_v2 took 16 ms an image on one thread and 11 ms on
    /// two splitting each layer, so two images at once beat one after the other by about a third.
    static func run(_ input: Tensor, imageByImage imagePlan: ExecutionPlan, outputShape: [Int]) throws -> Tensor {
        let batch = input.shape[0]
        let imageInput = input.count / batch, imageOutput = outputShape.reduce(1, *) / batch
        let values = input.storage.array
        let results = ImageResults(count: batch)
        let runImage = { @Sendable (image: Int) in
            do {
                let slice = Array(values[(image * imageInput)..<((image + 1) * imageInput)])
                results.store(try imagePlan.run(Tensor(shape: imagePlan.inputShape, storage: slice)), at: image)
            } catch {
                results.fail(error)
            }
        }
        let threads = min(ComputeThreads.count, batch)
        if threads > 1 {
            let queue = TaskQueue(count: batch)
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                pk_run_serially_on_this_thread(1)
                defer { pk_run_serially_on_this_thread(0) }
                while let image = queue.next() { runImage(image) }
            }
        } else {
            for image in 0..<batch { runImage(image) }
        }
        let outputs = try results.all()
        var output: [Float] = []
        output.reserveCapacity(outputShape.reduce(1, *))
        for result in outputs { output.append(contentsOf: result.storage.array.prefix(imageOutput)) }
        return Tensor(shape: outputShape, storage: output)
    }
}

/// The outputs of a batch's images as the threads running them finish, or the first error.
private final class ImageResults: @unchecked Sendable {
    private let lock = NSLock()
    private var outputs: [Tensor?]
    private var error: Error?

    init(count: Int) { outputs = Array(repeating: nil, count: count) }

    func store(_ output: Tensor, at image: Int) { lock.withLock { outputs[image] = output } }

    func fail(_ error: Error) { lock.withLock { self.error = self.error ?? error } }

    func all() throws -> [Tensor] {
        try lock.withLock {
            if let error { throw error }
            return try outputs.map { output in
                guard let output else {
                    throw RuntimeError.invalidArgument(operation: "compiled plan", reason: "an image produced no output")
                }
                return output
            }
        }
    }
}
