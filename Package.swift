// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "PthKit",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "PthKit", targets: ["PthKit"]),
        .executable(name: "pthkit", targets: ["pthkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // The zip container of torch >= 1.6 checkpoints (zip64, deflate) is read by libzip.
        .systemLibrary(
            name: "CLibZip",
            pkgConfig: "libzip",
            providers: [.apt(["libzip-dev"]), .brew(["libzip"])]
        ),
        // SHA-256 of official weight files and inspect's digests: OpenSSL's libcrypto, which uses the
        // CPU's SHA extensions where it has them.
        .systemLibrary(
            name: "CLibCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"]), .brew(["openssl"])]
        ),
        // Convolutions and linear layers run as OpenBLAS sgemm/sgemv.
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]
        ),
        // PNG and JPEG images are decoded by libpng and libjpeg(-turbo), the libraries Pillow uses.
        .systemLibrary(
            name: "CLibPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"]), .brew(["libpng"])]
        ),
        .systemLibrary(
            name: "CLibJPEG",
            pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg-dev"]), .brew(["jpeg-turbo"])]
        ),
        // Both libraries report errors by longjmp, which must not cross Swift frames: this C target
        // owns every call into them and returns a status code instead.
        .target(
            name: "CImageShims",
            dependencies: ["CLibPNG", "CLibJPEG"]
        ),
        // PthKit's own kernels (convolutions with fused epilogues, the worker pool), in C so that
        // SIMD paths can carry per-function target attributes chosen at run time.
        .target(
            name: "CKernels",
            linkerSettings: [.linkedLibrary("m"), .linkedLibrary("pthread", .when(platforms: [.linux]))]
        ),
        // The bulk of a zip record's CRC-32 by carry-less multiplication (PCLMULQDQ, chosen at run
        // time), in C for the same per-function target attributes; apart from CKernels so that
        // reading a checkpoint needs nothing of the runtime.
        .target(name: "CZipChecksum"),
        // What the stages below share: whole-file reads, page advice, text made safe to print, half
        // floats, shape arithmetic. Depends on nothing of the package.
        .target(name: "PthKitSupport"),
        // Reading and writing checkpoints: the pickle machine, the zip and legacy containers, torch's
        // allowlisted constructors, TorchScript and safetensors, state dicts. Tensors here are the
        // file's bytes (`TensorData`); nothing of the runtime.
        .target(
            name: "PthKitCheckpoint",
            dependencies: ["PthKitSupport", "CLibZip", "CLibCrypto", "CZipChecksum"]
        ),
        // The runtime: tensors, the reference kernels, and the plan compiler and its plans on the C
        // kernels and OpenBLAS. Knows nothing of checkpoints or modules.
        .target(
            name: "PthKitRuntime",
            dependencies: ["PthKitSupport", "COpenBLAS", "CKernels"]
        ),
        // Modules and models: the module tree, load_state_dict, the zoo and its manifest. Where a
        // checkpoint's tensors become the runtime's: the one layer that sees both.
        .target(
            name: "PthKitModels",
            dependencies: ["PthKitSupport", "PthKitCheckpoint", "PthKitRuntime"]
        ),
        // Images into a model's input as its manifest prescribes (decoding, Pillow's resampling,
        // normalization) and its logits into predictions.
        .target(
            name: "PthKitVision",
            dependencies: ["PthKitSupport", "PthKitRuntime", "PthKitModels", "CImageShims"]
        ),
        // Transfer learning: features from a frozen backbone, a new classifier head trained on them.
        .target(
            name: "PthKitTraining",
            dependencies: ["PthKitRuntime", "PthKitModels", "PthKitVision"]
        ),
        // What users import: every target above, re-exported, and nothing of its own.
        .target(
            name: "PthKit",
            dependencies: ["PthKitSupport", "PthKitCheckpoint", "PthKitRuntime", "PthKitModels", "PthKitVision", "PthKitTraining"]
        ),
        .executableTarget(
            name: "pthkit",
            dependencies: [
                "PthKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Feeds mutated fixtures to each parser a hostile file reaches (Scripts/fuzz.sh).
        .executableTarget(
            name: "pthkit-fuzz",
            dependencies: ["PthKit"]
        ),
        // Tests read each stage's internals (`@testable import PthKitCheckpoint`, ...).
        .testTarget(
            name: "PthKitTests",
            dependencies: ["PthKit", "PthKitCheckpoint", "PthKitRuntime", "PthKitModels", "PthKitVision", "PthKitTraining"]
        ),
    ]
)
