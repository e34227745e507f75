import PthKitRuntime

/// torchvision `models/resnet.py`: ResNet, ResNeXt and Wide ResNet, key for key.

/// `BasicBlock` (expansion 1): conv1, bn1, relu, conv2, bn2, downsample.
final class BasicBlock: Module, @unchecked Sendable {
    static let expansion = 1
    let conv1: Conv2d, bn1: BatchNorm2d, relu = ReLU(), conv2: Conv2d, bn2: BatchNorm2d
    let downsample: Sequential?

    init(inplanes: Int, planes: Int, stride: Int, downsample: Sequential?) {
        conv1 = Conv2d(inplanes, planes, kernelSize: 3, stride: Pair(stride, stride), padding: 1, bias: false)
        bn1 = BatchNorm2d(planes)
        conv2 = Conv2d(planes, planes, kernelSize: 3, padding: 1, bias: false)
        bn2 = BatchNorm2d(planes)
        self.downsample = downsample
        super.init()
        registerModule("conv1", conv1)
        registerModule("bn1", bn1)
        registerModule("relu", relu)
        registerModule("conv2", conv2)
        registerModule("bn2", bn2)
        if let downsample { registerModule("downsample", downsample) }
    }

    override func forward(_ input: Tensor) throws -> Tensor {
        var out = try relu(bn1(conv1(input)))
        out = try bn2(conv2(out))
        let identity = try downsample?(input) ?? input
        try out += identity
        return try relu(out)
    }
}

/// `Bottleneck` (expansion 4): 1x1 reduce, grouped 3x3 with the stride, 1x1 expand.
final class Bottleneck: Module, @unchecked Sendable {
    static let expansion = 4
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d, conv3: Conv2d, bn3: BatchNorm2d
    let relu = ReLU()
    let downsample: Sequential?

    init(inplanes: Int, planes: Int, stride: Int, downsample: Sequential?, groups: Int, baseWidth: Int) {
        let width = Int(Double(planes) * (Double(baseWidth) / 64.0)) * groups
        conv1 = Conv2d(inplanes, width, kernelSize: 1, bias: false)
        bn1 = BatchNorm2d(width)
        conv2 = Conv2d(width, width, kernelSize: 3, stride: Pair(stride, stride), padding: 1, groups: groups, bias: false)
        bn2 = BatchNorm2d(width)
        conv3 = Conv2d(width, planes * Self.expansion, kernelSize: 1, bias: false)
        bn3 = BatchNorm2d(planes * Self.expansion)
        self.downsample = downsample
        super.init()
        registerModule("conv1", conv1)
        registerModule("bn1", bn1)
        registerModule("conv2", conv2)
        registerModule("bn2", bn2)
        registerModule("conv3", conv3)
        registerModule("bn3", bn3)
        registerModule("relu", relu)
        if let downsample { registerModule("downsample", downsample) }
    }

    override func forward(_ input: Tensor) throws -> Tensor {
        var out = try relu(bn1(conv1(input)))
        out = try relu(bn2(conv2(out)))
        out = try bn3(conv3(out))
        let identity = try downsample?(input) ?? input
        try out += identity
        return try relu(out)
    }
}

/// With `includeTop` false, the design notebook's `ResNet(include_top=False)`: no `avgpool` and `fc`, and
/// the forward pass returns layer4's feature map.
public final class ResNet: Module, @unchecked Sendable {
    enum Block { case basic, bottleneck }

    let conv1: Conv2d, bn1: BatchNorm2d, relu = ReLU(), maxpool: MaxPool2d
    let layers: [Sequential]
    let avgpool = AdaptiveAvgPool2d(1), fc: Linear?

    init(
        block: Block, layers depths: [Int], numClasses: Int, groups: Int = 1, widthPerGroup: Int = 64,
        includeTop: Bool = true
    ) {
        let expansion = block == .basic ? BasicBlock.expansion : Bottleneck.expansion
        conv1 = Conv2d(3, 64, kernelSize: 7, stride: 2, padding: 3, bias: false)
        bn1 = BatchNorm2d(64)
        maxpool = MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
        var inplanes = 64
        var stages: [Sequential] = []
        for (index, (planes, depth)) in zip([64, 128, 256, 512], depths).enumerated() {
            let stride = index == 0 ? 1 : 2
            var blocks: [Module] = []
            for blockIndex in 0..<depth {
                let blockStride = blockIndex == 0 ? stride : 1
                var downsample: Sequential?
                if blockIndex == 0, stride != 1 || inplanes != planes * expansion {
                    downsample = Sequential(
                        Conv2d(inplanes, planes * expansion, kernelSize: 1, stride: Pair(stride, stride), bias: false),
                        BatchNorm2d(planes * expansion))
                }
                switch block {
                case .basic:
                    blocks.append(BasicBlock(inplanes: inplanes, planes: planes, stride: blockStride, downsample: downsample))
                case .bottleneck:
                    blocks.append(Bottleneck(
                        inplanes: inplanes, planes: planes, stride: blockStride, downsample: downsample, groups: groups,
                        baseWidth: widthPerGroup))
                }
                inplanes = planes * expansion
            }
            stages.append(Sequential(blocks))
        }
        layers = stages
        fc = includeTop ? Linear(512 * expansion, numClasses) : nil
        super.init()
        registerModule("conv1", conv1)
        registerModule("bn1", bn1)
        registerModule("relu", relu)
        registerModule("maxpool", maxpool)
        for (index, stage) in layers.enumerated() { registerModule("layer\(index + 1)", stage) }
        if let fc {
            registerModule("avgpool", avgpool)
            registerModule("fc", fc)
        }
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        var x = try maxpool(relu(bn1(conv1(input))))
        for stage in layers { x = try stage(x) }
        guard let fc else { return x }
        return try fc(Kernels.flatten(avgpool(x), startDim: 1))
    }
}

extension ModelZoo {
    /// name -> (block, depths, groups, width_per_group), torchvision's builders as a table.
    private static let resnetConfigurations: [String: (ResNet.Block, [Int], Int, Int)] = [
        "resnet18": (.basic, [2, 2, 2, 2], 1, 64),
        "resnet34": (.basic, [3, 4, 6, 3], 1, 64),
        "resnet50": (.bottleneck, [3, 4, 6, 3], 1, 64),
        "resnet101": (.bottleneck, [3, 4, 23, 3], 1, 64),
        "resnet152": (.bottleneck, [3, 8, 36, 3], 1, 64),
        "resnext50_32x4d": (.bottleneck, [3, 4, 6, 3], 32, 4),
        "resnext101_32x8d": (.bottleneck, [3, 4, 23, 3], 32, 8),
        "resnext101_64x4d": (.bottleneck, [3, 4, 23, 3], 64, 4),
        "wide_resnet50_2": (.bottleneck, [3, 4, 6, 3], 1, 128),
        "wide_resnet101_2": (.bottleneck, [3, 4, 23, 3], 1, 128),
    ]

    /// The ResNets design-docs/pytorch-models-notebook.md defines with `include_top` (its other
    /// arguments and its keys are torchvision's).
    static let notebookResNets: Set<String> = ["resnet34", "resnet50", "resnet101", "resnext50_32x4d", "resnext101_32x8d"]

    static let resnetBuilders: [String: Builder] = Dictionary(uniqueKeysWithValues: resnetConfigurations.map { name, configuration in
        let includeTopAccepted = notebookResNets.contains(name)
        let builder: Builder = { arguments in
            let (block, depths, groups, width) = configuration
            return ResNet(
                block: block, layers: depths, numClasses: try arguments.numClasses(),
                groups: try arguments.int("groups", default: groups, in: 1...256),
                widthPerGroup: try arguments.int("width_per_group", default: width, in: 1...1024),
                includeTop: includeTopAccepted ? try arguments.bool("include_top", default: true) : true)
        }
        return (name, builder)
    })
}
