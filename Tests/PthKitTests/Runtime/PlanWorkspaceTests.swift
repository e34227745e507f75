@testable import PthKitRuntime
import PthKit
import Testing

/// A plan's buffers stay bounded run after run: reference kernels (chunk, concatenate, channel
/// shuffle, pooling) release buffers of sizes no later step asks for, and those must not pile up.
@Suite("Plan workspace")
struct PlanWorkspaceTests {
    @Test func spareBuffersDoNotGrowAcrossRuns() throws {
        let model = try ModelZoo.build("shufflenet_v2_x0_5")
        let plan = try model.compiled(for: [1, 3, 32, 32])
        let input = PlanTests.randomInput([1, 3, 32, 32], seed: 5)
        // The first runs fill the workspace up to what one run asks for (kernels draw their outputs
        // from it too, so it takes a few runs to settle); then it stays there.
        var settled = -1
        for _ in 0..<8 where settled != plan.spareBufferCount {
            settled = plan.spareBufferCount
            _ = try plan.run(input)
        }
        #expect(settled == plan.spareBufferCount, "the workspace settles within a few runs")
        for _ in 0..<10 { _ = try plan.run(input) }
        #expect(plan.spareBufferCount == settled)
        #expect(settled > 0, "the workspace keeps the buffers its convolutions reuse")
    }
}
