import Foundation
import PthKit
@testable import PthKitRuntime
import Testing

/// The compiled plan against the plain module forward pass it is derived from: every zoo family,
/// compiled once and then run on inputs the trace never saw; and what the compiler fuses.
@Suite("Compiled plans")
struct PlanTests {
    /// One model per family (and per design document), at a small input where its pooling adapts.
    static let families: [(model: String, input: [Int])] = [
        ("alexnet", [2, 3, 96, 96]), ("vgg11_bn", [2, 3, 64, 64]), ("googlenet", [2, 3, 96, 96]),
        ("resnet18", [2, 3, 64, 64]), ("resnext50_32x4d", [1, 3, 64, 64]), ("mobilenet_v2", [2, 3, 64, 64]),
        ("mobilenet_v3_small", [2, 3, 64, 64]), ("shufflenet_v2_x0_5", [2, 3, 64, 64]),
        ("efficientnet_b0", [2, 3, 64, 64]), ("lenet5", [2, 1, 28, 28]), ("alexnet_half", [1, 3, 224, 224]),
        ("googlenet_nobn", [1, 3, 224, 224]), ("mobilenet_v1", [1, 3, 224, 224]), ("vgg16_flat", [1, 3, 224, 224]),
        ("nin", [2, 3, 32, 32]), ("googlenet_lesson", [1, 3, 224, 224]), ("resnet18_lesson", [1, 3, 224, 224]),
        ("efficientnet_b0_lettered", [1, 3, 224, 224]), ("efficientnet_b0_same", [1, 3, 224, 224]),
        ("squeezenet1_0", [2, 3, 67, 61]), ("densenet121", [2, 3, 64, 64]), ("mnasnet0_5", [2, 3, 64, 64]),
        ("regnet_y_400mf", [2, 3, 64, 64]), ("regnet_x_400mf", [1, 3, 64, 64]), ("inception_v3", [1, 3, 79, 75]),
        ("efficientnet_v2_s", [1, 3, 64, 64]),
    ]

    static func randomInput(_ shape: [Int], seed: UInt64) -> Tensor {
        var state = seed
        let values = (0..<shape.reduce(1, *)).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24) * 2 - 1
        }
        return Tensor(shape: shape, storage: values)
    }

    /// The largest difference, relative to the reference's largest magnitude.
    static func relativeError(_ output: Tensor, _ reference: Tensor) -> Double {
        let scale = reference.storage.map { abs(Double($0)) }.max() ?? 0
        let error = zip(output.storage, reference.storage).map { abs(Double($0) - Double($1)) }.max() ?? 0
        return error / max(scale, 1e-6)
    }

    @Test(arguments: families.map(\.model))
    func compiledMatchesTheReferencePath(_ name: String) throws {
        let shape = try #require(Self.families.first { $0.model == name }).input
        let model = try ModelZoo.build(name)
        let plan = try model.compiled(for: shape)
        for seed in [1, 2] as [UInt64] {
            let input = Self.randomInput(shape, seed: seed)
            let compiled = try plan.run(input)
            let reference = try model.referenceForward(input)
            #expect(compiled.shape == reference.shape)
            let error = Self.relativeError(compiled, reference)
            #expect(error <= 1e-4, "\(name): compiled differs from reference by \(error) of the output's scale")
        }
    }

    /// conv -> batch norm -> activation, fused into one packed convolution, on the awkward shapes:
    /// 1x1 images, channel counts off the vector width, stride 2, dilation, groups, depthwise.
    @Test(arguments: [
        // (in, out, kernel, stride, padding, dilation, groups, height, width)
        (3, 5, 3, 1, 1, 1, 1, 1, 1), (3, 13, 7, 2, 3, 1, 1, 17, 23), (9, 7, 1, 1, 0, 1, 1, 5, 3),
        (16, 24, 1, 2, 0, 1, 1, 9, 9), (12, 12, 3, 1, 2, 2, 1, 11, 10), (32, 64, 3, 2, 1, 1, 32, 13, 7),
        (17, 17, 3, 1, 1, 1, 17, 19, 21), (24, 24, 5, 2, 2, 1, 24, 15, 16), (8, 16, 3, 1, 1, 1, 4, 8, 8),
    ] as [(Int, Int, Int, Int, Int, Int, Int, Int, Int)])
    func fusedConvolutionMatchesItsLayers(
        _ geometry: (Int, Int, Int, Int, Int, Int, Int, Int, Int)
    ) throws {
        let (inputs, outputs, kernel, stride, padding, dilation, groups, height, width) = geometry
        for activation in [ReLU6(), Hardswish(), SiLU(), Sigmoid()] as [Module] {
            let norm = BatchNorm2d(outputs)
            norm.runningMean.value = Self.randomInput([outputs], seed: 7)
            norm.runningVar.value = Tensor(shape: [outputs], storage: Self.randomInput([outputs], seed: 8).storage.map { 0.5 + abs($0) })
            let block = Sequential(
                Conv2d(
                    inputs, outputs, kernelSize: Pair(kernel, kernel), stride: Pair(stride, stride),
                    padding: Pair(padding, padding), dilation: Pair(dilation, dilation), groups: groups),
                norm, activation)
            let input = Self.randomInput([2, inputs, height, width], seed: 9)
            let plan = try block.compiled(for: input.shape)
            // A depthwise convolution on whole channel blocks runs on them, between two layout changes;
            // the batch of two runs image by image (its activations outweigh the weights).
            let steps = plan.summary.filter { !$0.contains("channel blocks") && !$0.hasPrefix("image by image") }
            #expect(plan.convolutionCount == 1 && steps.count == 1, "\(plan.summary)")
            let error = Self.relativeError(try plan.run(input), try block.referenceForward(input))
            #expect(error <= 1e-5, "\(geometry) \(activation.typeName): \(error)")
        }
    }

    /// Networks with depthwise convolutions hold their activations in channel blocks: every
    /// depthwise and pointwise convolution runs on them, squeeze-and-excitation and the final pool
    /// read them in place, squeeze-and-excitation's scaling is folded into the projection after it,
    /// and the stem reads the NCHW image and writes blocks, so the layout never changes.
    @Test(arguments: ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0"])
    func depthwiseNetworksRunOnChannelBlocks(_ name: String) throws {
        let plan = try ModelZoo.build(name).compiled(for: [1, 3, 64, 64])
        let convolutions = plan.summary.filter { $0.hasPrefix("conv") }
        let blocked = convolutions.filter { $0.contains(" blocked") }
        let scaledInputs = convolutions.filter { $0.contains(" of scaled input") }
        #expect(!plan.summary.contains { $0.hasPrefix("multiply channels") }, "\(plan.summary)")
        #expect(scaledInputs.isEmpty == (name == "mobilenet_v2"), "\(plan.summary)")
        // Not blocked: the stem (3 input channels, NCHW in) and the squeeze-and-excitation layers on 1x1 maps.
        let squeezeLayers = scaledInputs.count * 2
        #expect(blocked.count == convolutions.count - 1 - squeezeLayers, "\(plan.summary)")
        #expect(convolutions[0].contains(" from NCHW to blocks"), "\(plan.summary)")
        #expect(!plan.summary.contains { $0.contains("NCHW to channel blocks") || $0.contains("channel blocks to NCHW") },
                "\(plan.summary)")
        #expect(plan.summary.contains { $0.hasPrefix("global average pool of channel blocks") })
    }

    /// Networks with grouped convolutions of several channels per group (ResNeXt's 4 to 32, RegNet's
    /// 8 and 16) run every one of them on channel blocks, not as one small GEMM per group.
    @Test(arguments: ["resnext50_32x4d", "regnet_x_400mf", "regnet_y_400mf"])
    func groupedNetworksRunTheirGroupsOnChannelBlocks(_ name: String) throws {
        let plan = try ModelZoo.build(name).compiled(for: [1, 3, 64, 64])
        let grouped = plan.summary.filter { $0.hasPrefix("conv") && $0.contains(" groups ") }
        #expect(!grouped.isEmpty && grouped.allSatisfy { $0.contains(" blocked") }, "\(plan.summary)")
    }

    /// Dense networks run on channel blocks when their activations change layout at most twice:
    /// every convolution on blocks (the stem reading the NCHW image), the 3x3s as Winograd or the
    /// dense tile, max pools on blocks too. ResNets never change; VGG and AlexNet once, before the
    /// classifier's adaptive pool; GoogLeNet never, its concatenations' buffers holding blocks.
    /// DenseNet's concatenations are read as views (NCHW) between its convolutions, so it keeps NCHW.
    @Test(arguments: [
        ("resnet18", 0), ("resnet50", 0), ("wide_resnet50_2", 0), ("vgg11_bn", 1), ("alexnet", 1),
        ("googlenet", 0), ("densenet121", nil),
    ] as [(String, Int?)])
    func denseNetworksRunOnChannelBlocksWhenTheyChangeLayoutAtMostTwice(_ name: String, _ layoutChanges: Int?) throws {
        // Where the dense blocked tile has no form as fast as the NCHW kernels (AVX-512), all keep NCHW.
        let layoutChanges = ChannelBlockLayout.denseNetworksMayUseBlocks ? layoutChanges : nil
        let plan = try ModelZoo.build(name).compiled(for: [1, 3, 96, 96])
        let convolutions = plan.summary.filter { $0.hasPrefix("conv") }
        let onBlocks = convolutions.filter { $0.contains(" blocked") }
        let changes = plan.summary.filter { $0.contains("NCHW to channel blocks") || $0.contains("channel blocks to NCHW") }
        if let layoutChanges {
            #expect(convolutions[0].contains(" from NCHW to blocks"), "\(plan.summary)")
            #expect(onBlocks.count == convolutions.count - 1, "\(plan.summary)")
            #expect(changes.count == layoutChanges, "\(plan.summary)")
        } else {
            #expect(onBlocks.isEmpty && changes.isEmpty, "\(plan.summary)")
        }
    }

    /// The channel-blocked plans at sizes that leave odd, 2x1 and 1x1 maps deep in the network, at
    /// batch sizes above one, against the reference path.
    @Test(arguments: [
        ("mobilenet_v2", [3, 3, 33, 47]), ("mobilenet_v3_small", [2, 3, 37, 29]), ("mobilenet_v3_large", [1, 3, 17, 40]),
        ("efficientnet_b0", [2, 3, 45, 33]), ("mnasnet0_5", [1, 3, 35, 35]),
        ("resnext50_32x4d", [2, 3, 45, 37]), ("regnet_y_400mf", [1, 3, 41, 50]), ("regnet_x_400mf", [2, 3, 33, 33]),
        ("resnet18", [2, 3, 45, 37]), ("resnet50", [1, 3, 39, 52]), ("vgg11_bn", [2, 3, 37, 45]),
        ("alexnet", [1, 3, 83, 71]), ("googlenet", [2, 3, 45, 37]),
    ] as [(String, [Int])])
    func channelBlockedPlansMatchAtOddSizes(_ name: String, _ shape: [Int]) throws {
        let model = try ModelZoo.build(name)
        let plan = try model.compiled(for: shape)
        // Networks without grouped convolutions take blocks only where the dense blocked kernels win.
        let dense = ["resnet18", "resnet50", "vgg11_bn", "alexnet", "googlenet"].contains(name)
        if !dense || ChannelBlockLayout.denseNetworksMayUseBlocks {
            #expect(plan.summary.contains { $0.contains(" blocked") })
        }
        let input = Self.randomInput(shape, seed: 5)
        let error = Self.relativeError(try plan.run(input), try model.referenceForward(input))
        #expect(error <= 1e-4, "\(name) \(shape): compiled differs from reference by \(error) of the output's scale")
    }

    /// A batch whose activations outweigh the weights runs image by image through a one-image plan;
    /// a model whose steps mix the images of a batch never does.
    @Test func batchesRunImageByImageWhenActivationsOutweighWeights() throws {
        let model = Sequential(Conv2d(3, 16, kernelSize: 3, padding: 1), ReLU(), Conv2d(16, 16, kernelSize: 3, groups: 16))
        let input = Self.randomInput([3, 3, 23, 19], seed: 11)
        let plan = try model.compiled(for: input.shape)
        #expect(plan.summary.first == "image by image, 3 images, each:", "\(plan.summary)")
        #expect(plan.outputShape == [3, 16, 21, 17])
        #expect(Self.relativeError(try plan.run(input), try model.referenceForward(input)) <= 1e-5)

        let mixing = ImageMixing(model)
        let mixed = try mixing.compiled(for: input.shape)
        #expect(!mixed.summary.contains { $0.hasPrefix("image by image") }, "\(mixed.summary)")
        #expect(Self.relativeError(try mixed.run(input), try mixing.referenceForward(input)) <= 1e-5)

        // ResNets' weights outweigh a batch of 4 at 64x64: the batch runs at once.
        let resnet = try ModelZoo.build("resnet18").compiled(for: [4, 3, 64, 64])
        #expect(!resnet.summary.contains { $0.hasPrefix("image by image") })
    }

    /// Split, every image reads all the weights again: activations only 1.2x the weights (as
    /// mobilenet_v3_large's at batch 8) keep the batch together; 2.2x (as mobilenet_v2's) split it.
    @Test func batchesSplitOnlyWhenActivationsOutweighWeightsByAMargin() throws {
        // 5,952 weights (64 * 27 + 64 + 64 * 64 + 64); the largest activation is 2 x 64 x height x width.
        let model = Sequential(Conv2d(3, 64, kernelSize: 3, padding: 1), ReLU(), Conv2d(64, 64, kernelSize: 1))
        let close = try model.compiled(for: [2, 3, 7, 8])
        #expect(!close.summary.contains { $0.hasPrefix("image by image") }, "\(close.summary)")
        let apart = try model.compiled(for: [2, 3, 10, 10])
        #expect(apart.summary.first == "image by image, 2 images, each:", "\(apart.summary)")
        let input = Self.randomInput([2, 3, 7, 8], seed: 12)
        #expect(Self.relativeError(try close.run(input), try model.referenceForward(input)) <= 1e-5)
    }

    /// Runs `body`, then adds every image's output to the first's: a step across the batch.
    final class ImageMixing: Module, @unchecked Sendable {
        let body: Module
        init(_ body: Module) {
            self.body = body
            super.init()
            registerModule("body", body)
        }
        override func forward(_ input: Tensor) throws -> Tensor {
            let features = try body(input)
            let images = try Kernels.chunk(features, chunks: features.shape[0], dim: 0)
            return try images.dropFirst().reduce(images[0]) { try Kernels.add($0, $1) }
        }
    }

    /// Linear layers run on weights packed once, with the activation after them applied as they
    /// store: several rows (a batch, a transformer's tokens) as a GEMM, one row (a batch-1
    /// classifier) as a matrix-vector product on the same strips.
    @Test func linearLayersRunOnPackedWeights() throws {
        let model = Sequential(Linear(37, 29), ReLU(), Linear(29, 40), GELU(), Linear(40, 3, bias: false))
        for shape in [[7, 37], [2, 5, 37], [13, 37], [1, 37]] {
            let plan = try model.compiled(for: shape)
            #expect(plan.summary.map { $0.components(separatedBy: " [").first ?? $0 } == [
                "linear 37->29 packed +relu", "linear 29->40 packed +gelu", "linear 40->3 packed",
            ], "\(plan.summary)")
            let input = Self.randomInput(shape, seed: 11)
            let error = Self.relativeError(try plan.run(input), try model.referenceForward(input))
            #expect(error <= 1e-5, "\(shape): \(error)")
        }
    }

    /// Attention's input projection, which the layer computes with `Kernels.linear` on its own
    /// parameter rather than through a `Linear`, is packed like one.
    @Test func attentionProjectionsRunOnPackedWeights() throws {
        let attention = try MultiheadAttention(24, 4)
        attention.inProjBias?.value = Self.randomInput([72], seed: 13)
        let shape = [2, 9, 24]
        let plan = try attention.compiled(for: shape)
        #expect(plan.summary.contains { $0.hasPrefix("linear 24->72 packed") }, "\(plan.summary)")
        #expect(plan.summary.contains { $0.hasPrefix("linear 24->24 packed") }, "\(plan.summary)")
        let input = Self.randomInput(shape, seed: 14)
        #expect(Self.relativeError(try plan.run(input), try attention.referenceForward(input)) <= 1e-5)
    }

    @Test func resnetBlocksBecomeOneStepPerConvolution() throws {
        let plan = try ModelZoo.build("resnet18").compiled(for: [1, 3, 64, 64])
        #expect(plan.convolutionCount == 20)
        // Every batch norm, residual add and ReLU went into a convolution's epilogue.
        for line in plan.summary {
            #expect(!line.hasPrefix("batch_norm") && !line.hasPrefix("add") && !line.hasPrefix("relu"), "\(line)")
        }
        #expect(plan.summary.filter { $0.contains("+residual +relu") }.count == 8)
    }

    /// DenseNet concatenates all earlier feature maps of a block before every layer: each map is
    /// written into the block's buffer once, and each layer's batch norm reads the leading slice.
    @Test func denseNetConcatenationsAreWrittenOnce() throws {
        let plan = try ModelZoo.build("densenet121").compiled(for: [2, 3, 64, 64])
        let layers = 6 + 12 + 24 + 16
        #expect(!plan.summary.contains { $0.hasPrefix("cat") || $0.hasPrefix("slice") }, "\(plan.summary)")
        // Each layer's conv2 writes its new features into the block's buffer; each block's input
        // (a pool's output) is copied in once.
        #expect(plan.summary.filter { $0.hasPrefix("conv") && $0.contains(" into ") }.count == layers)
        #expect(plan.summary.filter { $0.hasPrefix("place") }.count == 4)
        #expect(plan.summary.filter { $0.hasPrefix("batch_norm of slice") && $0.contains("+relu") }.count == layers)
        // conv0 and every layer's conv1 absorb the batch norm and ReLU after them.
        #expect(plan.convolutionCount == 1 + 2 * layers + 3)
        #expect(plan.summary.filter { $0.hasPrefix("conv") && $0.contains("+relu") }.count == 1 + layers)
    }

    /// GoogLeNet's Inception blocks on channel blocks: each branch's last convolution writes its
    /// blocks straight into the block's concatenation buffer (the same runs of values in either
    /// layout), image by image at batch 2, and nothing is copied into it afterwards. (Where dense
    /// networks keep NCHW, AVX-512, the NCHW convolutions write there the same way.)
    @Test func inceptionBranchesWriteTheirBlocksIntoTheConcatenation() throws {
        let model = try ModelZoo.build("googlenet")
        let input = Self.randomInput([2, 3, 64, 64], seed: 9)
        let plan = try model.compiled(for: input.shape)
        let branches = 9 * 4
        let blocked = ChannelBlockLayout.denseNetworksMayUseBlocks
        #expect(plan.summary.filter { $0.hasPrefix("conv") && $0.contains(" blocked") == blocked && $0.contains(" into ") }.count == branches,
                "\(plan.summary)")
        #expect(!plan.summary.contains { $0.hasPrefix("place") || $0.hasPrefix("cat") }, "\(plan.summary)")
        #expect(Self.relativeError(try plan.run(input), try model.referenceForward(input)) <= 1e-4)
    }

    /// Concatenations the DenseNet pattern does not cover: along the width, a prefix read by an add
    /// (copied out of the buffer), and a part that is a convolution's output but not whole images.
    final class PrefixConcatenations: Module, @unchecked Sendable {
        let conv1 = Conv2d(3, 4, kernelSize: 1), conv2 = Conv2d(4, 4, kernelSize: 3, padding: 1)

        override func forward(_ x: Tensor) throws -> Tensor {
            let a = try conv1(x)
            let b = Kernels.activated(a, .sigmoid)
            let c = try conv2(b)
            let ab = try Kernels.concatenate([a, b], dim: -1)
            let abc = try Kernels.concatenate([a, b, c], dim: 3)
            let doubled = try ab + ab
            return try Kernels.concatenate(
                [Kernels.flatten(doubled, startDim: 1), Kernels.flatten(abc, startDim: 1), Kernels.flatten(a, startDim: 1)],
                dim: 1)
        }
    }

    @Test func prefixConcatenationsMatchTheReferencePath() throws {
        let model = PrefixConcatenations()
        let input = Self.randomInput([2, 3, 5, 7], seed: 5)
        let plan = try model.compiled(for: input.shape)
        #expect(plan.summary.contains { $0.hasPrefix("slice") }, "\(plan.summary)")
        #expect(!plan.summary.contains { $0.hasPrefix("cat") }, "\(plan.summary)")
        let (compiled, reference) = (try plan.run(input), try model.referenceForward(input))
        #expect(compiled.shape == reference.shape)
        // The packed convolutions sum in another order than the reference kernel: rounding only.
        #expect(Self.relativeError(compiled, reference) <= 1e-6, "\(Self.relativeError(compiled, reference))")
    }

    /// ShuffleNet's units: each unit's concatenation, channel shuffle and the next unit's chunk are
    /// one copy from the branches into the halves (the stage's last unit's into the whole), all on
    /// channel blocks: x1.0's halves of 58 and 116 channels are padded to 64 and 120 (`ChannelPadding`).
    /// Nothing is concatenated, shuffled, chunked, placed or changes layout otherwise.
    @Test(arguments: [
        ("shufflenet_v2_x1_0", [2, 3, 45, 37], ["24->64", "64->64", "120->120"]),
        ("shufflenet_v2_x0_5", [1, 3, 64, 64], []), ("shufflenet_v2_x1_5", [1, 3, 39, 52], []),
    ] as [(String, [Int], [String])])
    func shuffleNetUnitsCopyTheirHalvesOnce(_ name: String, _ shape: [Int], _ padded: [String]) throws {
        let model = try ModelZoo.build(name)
        let plan = try model.compiled(for: shape)
        let shuffles = plan.summary.filter { $0.contains("shuffle 2 parts into") }
        #expect(shuffles.count == 16, "\(plan.summary)")
        #expect(shuffles.filter { $0.contains("into 1 chunk") }.count == 3)
        #expect(shuffles.allSatisfy { $0.contains(" of blocks") }, "\(shuffles)")
        for channels in padded {
            #expect(plan.summary.contains { $0.hasPrefix("conv 1x1/1 \(channels) blocked") }, "\(channels): \(plan.summary)")
        }
        let copies = ["channel_shuffle", "chunk", "cat", "place", "NCHW", "channel blocks to NCHW"]
        #expect(!plan.summary.contains { line in copies.contains { line.hasPrefix($0 + " ") } }, "\(plan.summary)")
        let input = Self.randomInput(shape, seed: 11)
        let error = Self.relativeError(try plan.run(input), try model.referenceForward(input))
        #expect(error <= 1e-4, "\(name) \(shape): compiled differs from reference by \(error) of the output's scale")
    }

    /// Shuffles the ShuffleNet pattern does not cover: three parts (gathered lane by lane on
    /// blocks), a chunk into three, a shuffle read by two steps, and channels that are not whole
    /// blocks (NCHW).
    final class ShuffledConcatenationsModule: Module, @unchecked Sendable {
        let conv1: Conv2d, conv2: Conv2d, conv3: Conv2d

        init(channels: Int) {
            conv1 = Conv2d(channels, channels, kernelSize: 3, padding: 1, groups: channels)
            conv2 = Conv2d(channels, channels, kernelSize: 1)
            conv3 = Conv2d(channels, channels, kernelSize: 3, stride: 1, padding: 1, groups: channels)
            super.init()
        }

        override func forward(_ x: Tensor) throws -> Tensor {
            let whole = try Kernels.concatenate([conv1(x), conv2(x), conv3(x)], dim: 1)
            let pieces = try Kernels.chunk(Kernels.channelShuffle(whole, groups: 3), chunks: 3, dim: 1)
            let twice = try Kernels.channelShuffle(Kernels.concatenate([pieces[2], pieces[0]], dim: -3), groups: 2)
            return try Kernels.concatenate(
                [Kernels.flatten(twice, startDim: 1), Kernels.flatten(Kernels.activated(twice, .relu), startDim: 1),
                 Kernels.flatten(pieces[1], startDim: 1)], dim: 1)
        }
    }

    @Test(arguments: [8, 6])
    func shuffledConcatenationsMatchTheReferencePath(_ channels: Int) throws {
        let model = ShuffledConcatenationsModule(channels: channels)
        let input = Self.randomInput([2, channels, 5, 7], seed: 12)
        let plan = try model.compiled(for: input.shape)
        let shuffles = plan.summary.filter { $0.hasPrefix("shuffle") }
        #expect(shuffles.count == 2 && shuffles.filter { $0.contains(" of blocks") }.count == (channels == 8 ? 2 : 0),
                "\(plan.summary)")
        #expect(!plan.summary.contains { $0.hasPrefix("channel_shuffle") || $0.hasPrefix("chunk") }, "\(plan.summary)")
        let (compiled, reference) = (try plan.run(input), try model.referenceForward(input))
        #expect(compiled.shape == reference.shape)
        #expect(Self.relativeError(compiled, reference) <= 1e-6, "\(Self.relativeError(compiled, reference))")
    }

    /// Inception v3's and RegNet's batch norms, residual adds and ReLUs all go into convolutions.
    @Test(arguments: [("inception_v3", [1, 3, 79, 75]), ("regnet_y_400mf", [1, 3, 64, 64])])
    func batchNormsAndActivationsFold(_ name: String, _ shape: [Int]) throws {
        let plan = try ModelZoo.build(name).compiled(for: shape)
        #expect(!plan.summary.contains { $0.hasPrefix("batch_norm") || $0.hasPrefix("add") || $0.hasPrefix("relu") }, "\(plan.summary)")
        if name.hasPrefix("regnet") {
            let blocks = plan.summary.filter { $0.contains("+residual +relu") }.count
            #expect(blocks == 1 + 3 + 6 + 6, "one residual sum per block (depths 1, 3, 6, 6)")
        }
    }

    @Test func mobileBlocksFuseTheirActivations() throws {
        let plan = try ModelZoo.build("mobilenet_v3_large").compiled(for: [1, 3, 64, 64])
        #expect(plan.summary.filter { $0.contains("+hardswish") }.count > 0)
        #expect(plan.summary.filter { $0.contains("+residual") }.count > 0)
        #expect(!plan.summary.contains { $0.hasPrefix("batch_norm") })
    }

    @Test func newParametersRecompile() throws {
        let model = try ModelZoo.build("resnet18", arguments: ModelArguments(["num_classes": "3"]))
        let input = Self.randomInput([1, 3, 32, 32], seed: 3)
        let before = try model(input)
        try model.replaceHead(numClasses: 3)  // fresh random head
        let after = try model(input)
        #expect(after != before)
        #expect(Self.relativeError(after, try model.referenceForward(input)) <= 1e-4)
    }

    @Test func headInputStopsAtTheClassifier() throws {
        let model = try ModelZoo.build("mobilenet_v2")
        let input = Self.randomInput([2, 3, 64, 64], seed: 4)
        let features = try model.headInput(input)
        #expect(features.shape == [2, 1280])
        #expect(Self.relativeError(features, try model.referenceHeadInput(input)) <= 1e-4)
    }

    @Test func onePlanRunsOnSeveralThreadsAtOnce() async throws {
        let model = try ModelZoo.build("resnet18")
        let inputs = (0..<4).map { Self.randomInput([1, 3, 64, 64], seed: UInt64(10 + $0)) }
        let expected = try inputs.map { try model($0) }
        let results = try await withThrowingTaskGroup(of: (Int, Tensor).self) { group in
            for _ in 0..<3 {
                for (index, input) in inputs.enumerated() {
                    group.addTask { (index, try model(input)) }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for (index, output) in results { #expect(output == expected[index]) }
    }

    /// The step profile (`pthkit bench --profile`) times every step of the plan, under its summary
    /// line; a batch run image by image is profiled on the plan for one image.
    @Test func stepTimesCoverEveryStep() throws {
        let model = try ModelZoo.build("lenet5")
        let plan = try model.compiled(for: [1, 1, 28, 28])
        let times = try plan.stepTimes(Self.randomInput([1, 1, 28, 28], seed: 5), runs: 3)
        #expect(times.map(\.step) == plan.summary)
        #expect(times.allSatisfy { $0.milliseconds >= 0 } && times.contains { $0.milliseconds > 0 })

        let imageByImage = try Sequential(Conv2d(3, 16, kernelSize: 3, padding: 1), ReLU()).compiled(for: [3, 3, 23, 19])
        let perImage = try imageByImage.stepTimes(Self.randomInput([3, 3, 23, 19], seed: 6), runs: 1)
        #expect(["image by image, 3 images, each:"] + perImage.map(\.step) == imageByImage.summary)
        #expect(throws: RuntimeError.self) { try imageByImage.stepTimes(Tensor(zeros: [1, 3, 23, 19]), runs: 1) }
    }

    @Test func aWrongInputShapeIsAnError() throws {
        let plan = try ModelZoo.build("lenet5").compiled(for: [1, 1, 28, 28])
        #expect(throws: RuntimeError.self) { try plan.run(Tensor(zeros: [1, 1, 32, 32])) }
    }
}
