import Foundation
import XCTest
@testable import SpikeCLIP
@testable import TUI

/// Files are read off the input thread, and the Fashion-MNIST test set once per session (issue 12).
final class ImageIOTests: XCTestCase {
    func temporaryFolder() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spikeclip-io-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func explorer(demo: String, fashionImages: String, fashionLabels: String) throws -> Explorer {
        let bundle = try CheckpointBundle(checkpoint: fixtureCheckpoint, assets: assetsDir)
        let provider = ModelAnalysisProvider(pipeline: SpikeCLIPPipeline(bundle: bundle))
        let catalog = ImageCatalog(preprocessor: bundle.preprocessor, demoDirectory: demo, fashionImages: fashionImages, fashionLabels: fashionLabels)
        let state = ExplorerState(classNames: bundle.defaultClasses, templates: bundle.defaultTemplates, glyphs: .ascii, directory: demo)
        return Explorer(provider: provider, catalog: catalog, state: state, checkpointName: "fixture")
    }

    /// While the worker is busy (its analysis held at a gate), keys that change the image return at once and decode
    /// nothing: the worker does the reading. Directory listings arrive the same way, applied by the input thread.
    func testImagesAreDecodedAndFoldersListedOffTheInputThread() throws {
        let bundle = try CheckpointBundle(checkpoint: fixtureCheckpoint, assets: assetsDir)
        let gated = GatedProvider(ModelAnalysisProvider(pipeline: SpikeCLIPPipeline(bundle: bundle)))
        let catalog = ImageCatalog(preprocessor: bundle.preprocessor, demoDirectory: assetsDir + "/images")
        let state = ExplorerState(classNames: bundle.defaultClasses, templates: bundle.defaultTemplates, glyphs: .ascii, directory: assetsDir)
        let e = Explorer(provider: gated, catalog: catalog, state: state, checkpointName: "fixture")
        XCTAssertNil(e.image, "the first image is decoded by the worker")
        _ = e.handle(.char("2"))
        for key in ["n", "n", "p", "n"] { XCTAssertTrue(e.handle(.char(Character(key)))) }
        XCTAssertNil(e.image, "n/p decoded nothing on the input thread")
        _ = e.frame(width: 80, height: 24)
        for _ in 0..<4 { gated.gate.signal() }
        e.settle()
        XCTAssertEqual(e.image?.title, (catalog.demo[2].path as NSString).lastPathComponent)
        // The directory browser: the listing is not there when the key returns, and is after settle.
        _ = e.handle(.char("s")); _ = e.handle(.char("s"))  // -> directory
        XCTAssertEqual(e.state.source, .directory)
        XCTAssertEqual(e.state.directoryEntries, [], "listed off the input thread")
        XCTAssertTrue(e.frame(width: 80, height: 24).lines.joined().contains("listing..."))
        e.settle()
        XCTAssertTrue(e.state.directoryEntries.contains(DirectoryEntry(name: "images", isDirectory: true)), "\(e.state.directoryEntries)")
    }

    /// The Fashion-MNIST files are read once: after the first image, they can vanish and n/p still work.
    func testFashionMNISTIsReadOncePerSession() throws {
        let dir = try temporaryFolder()
        let images = dir + "/t10k-images-idx3-ubyte.gz", labels = dir + "/t10k-labels-idx1-ubyte.gz"
        try FileManager.default.copyItem(atPath: FashionMNIST.files(split: "test").images, toPath: images)
        try FileManager.default.copyItem(atPath: FashionMNIST.files(split: "test").labels, toPath: labels)
        let e = try explorer(demo: dir + "/no-demo", fashionImages: images, fashionLabels: labels)
        _ = e.handle(.char("2"))
        _ = e.handle(.char("s"))  // demo (empty) -> Fashion-MNIST
        e.settle()
        XCTAssertEqual(e.image?.title, "Fashion-MNIST test #0")
        try FileManager.default.removeItem(atPath: images)
        try FileManager.default.removeItem(atPath: labels)
        for (key, expected) in [("n", 1), ("n", 2), ("p", 1), ("p", 0), ("p", 9999)] {
            _ = e.handle(.char(Character(key)))
            e.settle()
            XCTAssertNil(e.error)
            XCTAssertEqual(e.image?.title, "Fashion-MNIST test #\(expected)", "after \(key)")
            XCTAssertEqual(e.state.fashionIndex, expected)
        }
    }
}

/// An analysis provider that waits at a gate before each analysis (to hold the worker busy).
final class GatedProvider: AnalysisProvider, @unchecked Sendable {
    let inner: AnalysisProvider
    let gate = DispatchSemaphore(value: 0)
    init(_ inner: AnalysisProvider) { self.inner = inner }
    var contextLength: Int { inner.contextLength }
    var graphs: [LayerGraph] { inner.graphs }
    func tokens(of prompt: String) -> PromptTokens { inner.tokens(of: prompt) }
    func analyze(_ request: AnalysisRequest) throws -> Analysis {
        gate.wait()
        return try inner.analyze(request)
    }
}

