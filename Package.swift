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
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // The explorer's config file (issue 18): TOML through toml++.
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // C libraries (Debian: libopenblas-dev, libpng-dev, libjpeg62-turbo-dev, libturbojpeg0-dev, zlib1g-dev).
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG"),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // C helpers Swift cannot express (libpng reports errors by longjmp); wraps the setjmp side.
        .target(name: "CImageShims", dependencies: ["CPNG"]),
        // Event-driven kernels on spikes (issue 15): C for run-time choice of AVX-512 / AVX2 / plain loops.
        .target(name: "CSpikeKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // The engine: safetensors reader, LIF, encoders, recording, energy, image input. No UI.
        .target(name: "SpikeCLIP", dependencies: [
            "CBLAS", "CSpikeKernels", "CPNG", "CJPEG", "CZlib", "CImageShims", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // ncursesw behind plain C functions (Swift 6 cannot use curses' globals and macros).
        .target(name: "CTerminal", linkerSettings: [.linkedLibrary("ncursesw")]),
        // Pure renderers: plain data in, a cell grid out. Knows nothing of the engine or the terminal.
        .target(name: "Visualize"),
        // Panels, screen manager, terminal drivers (ncursesw and in-memory), the inference worker.
        .target(name: "TUI", dependencies: ["SpikeCLIP", "Visualize", "CTerminal", .product(name: "TOMLKit", package: "TOMLKit")]),
        .executableTarget(
            name: "spikeclip",
            dependencies: [
                "SpikeCLIP", "Visualize", "TUI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "SpikeCLIPTests", dependencies: ["SpikeCLIP"]),
        .testTarget(name: "VisualizeTests", dependencies: ["Visualize"]),
        // Runs the built spikeclip binary; compares its --json output with direct engine calls.
        .testTarget(name: "CLITests", dependencies: ["SpikeCLIP"]),
        .testTarget(name: "TUITests", dependencies: ["TUI", "SpikeCLIP", "Visualize"], exclude: ["__Snapshots__"]),
    ]
)
