// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "SpikeCLIP",
    products: [
        .library(name: "SpikeCLIP", targets: ["SpikeCLIP"]),
        .library(name: "Visualize", targets: ["Visualize"]),
        .executable(name: "spikeclip", targets: ["spikeclip"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries (Debian: libopenblas-dev, libpng-dev, libjpeg62-turbo-dev, zlib1g-dev).
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG"),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // The engine: safetensors reader, LIF, encoders, recording, energy. No UI.
        .target(name: "SpikeCLIP", dependencies: ["CBLAS", "CPNG", "CJPEG", "CZlib"]),
        // Pure renderers: plain data in, a cell grid out. Knows nothing of the engine or the terminal.
        .target(name: "Visualize"),
        .executableTarget(
            name: "spikeclip",
            dependencies: [
                "SpikeCLIP", "Visualize",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "SpikeCLIPTests", dependencies: ["SpikeCLIP"]),
        .testTarget(name: "VisualizeTests", dependencies: ["Visualize"]),
    ]
)
