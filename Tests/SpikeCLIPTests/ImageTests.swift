import Foundation
import XCTest
@testable import SpikeCLIP

/// Image decoding and preprocessing against the Python reference (Tests/Fixtures/images, written by
/// `python -m spikeclip_training.image_fixtures --out Tests/Fixtures/images`; rules in docs/PREPROCESSING.md).
final class ImageTests: XCTestCase {
    static let expectedPath = fixturePath("images", "expected.safetensors")

    /// The reference tensors and the two preprocessing targets they were computed for.
    struct Reference {
        let file: SafeTensorsFile
        let images: [String]
        let targets: [String: ModelConfig.PreprocessConfig]
        let idxLabels: [Int]

        init() throws {
            file = try SafeTensorsFile(path: ImageTests.expectedPath)
            images = try JSONDecoder().decode([String].self, from: Data(file.metadata["images"]!.utf8))
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            targets = try decoder.decode([String: ModelConfig.PreprocessConfig].self, from: Data(file.metadata["targets"]!.utf8))
            idxLabels = try JSONDecoder().decode([Int].self, from: Data(file.metadata["idx_labels"]!.utf8))
        }

        /// `name` is a file under Tests/Fixtures/images, `file#i` for IDX record i.
        func decode(_ name: String) throws -> DecodedImage {
            let parts = name.split(separator: "#")
            let path = fixturePath("images", String(parts[0]))
            if parts.count == 2 { return try IDXFile(path: path).image(at: Int(parts[1])!) }
            return try ImageDecoder.decode(path: path)
        }
    }

    /// Max abs difference between Swift and the reference for every image whose name has `prefix`:
    /// (decoded samples, preprocessed per target before normalisation i.e. times std, after normalisation).
    func compare(prefix: String, decodedTolerance: Float, scaledTolerance: Float,
                 file: StaticString = #filePath, line: UInt = #line) throws -> (decoded: Float, scaled: Float, normalized: Float) {
        let ref = try Reference()
        let names = ref.images.filter { $0.hasPrefix(prefix) }
        XCTAssertGreaterThanOrEqual(names.count, 2, "fixtures for \(prefix) missing", file: file, line: line)
        var worst: (decoded: Float, scaled: Float, normalized: Float) = (0, 0, 0)
        for name in names {
            let image = try ref.decode(name)
            let info = try ref.file.info("decoded/\(name)")
            XCTAssertEqual([image.height, image.width, image.channels], info.shape, "\(name): decoded shape", file: file, line: line)
            guard [image.height, image.width, image.channels] == info.shape else { continue }
            let d = maxAbsDifference(image.samples, try ref.file.floats("decoded/\(name)"))
            XCTAssertLessThanOrEqual(d, decodedTolerance, "\(name): decoded samples differ by \(d)", file: file, line: line)
            worst.decoded = max(worst.decoded, d)
            for (target, config) in ref.targets.sorted(by: { $0.key < $1.key }) {
                let pre = try ImagePreprocessor(config: config)
                let got = pre(image)
                let key = "\(target)/\(name)"
                XCTAssertEqual(try ref.file.info(key).shape, [config.channels] + config.imageSize, key, file: file, line: line)
                let want = try ref.file.floats(key)
                XCTAssertEqual(got.count, want.count, key, file: file, line: line)
                guard got.count == want.count else { continue }
                let plane = config.imageSize[0] * config.imageSize[1]
                var scaled: Float = 0, normalized: Float = 0
                for i in 0..<got.count {
                    let diff = abs(got[i] - want[i])
                    normalized = max(normalized, diff)
                    scaled = max(scaled, diff * Float(config.std[i / plane]))
                }
                XCTAssertLessThanOrEqual(scaled, scaledTolerance, "\(key): differs by \(scaled) before normalisation", file: file, line: line)
                if scaledTolerance <= 1e-5 {
                    XCTAssertLessThanOrEqual(normalized, 1e-5, "\(key): differs by \(normalized)", file: file, line: line)
                }
                worst.scaled = max(worst.scaled, scaled)
                worst.normalized = max(worst.normalized, normalized)
            }
        }
        print("ImageTests: \(prefix)* (\(names.count) images): max |diff| decoded \(worst.decoded), " +
              "preprocessed before normalisation \(worst.scaled), after normalisation \(worst.normalized)")
        return worst
    }

    func testPNGVariantsEqualReference() throws {
        let ref = try Reference()
        // Every variant the issue names is present.
        for name in ["png_gray8.png", "png_gray16.png", "png_graya8.png", "png_graya16.png", "png_rgb8.png", "png_rgb16.png",
                     "png_rgba8.png", "png_rgba16.png", "png_palette8.png", "png_palette8_trns.png", "png_rgb8_interlaced.png",
                     "png_rgba16_interlaced.png", "png_gray1.png", "png_gray2_trns.png", "png_rgb8_trns.png"] {
            XCTAssertTrue(ref.images.contains(name), "missing fixture \(name)")
        }
        _ = try compare(prefix: "png_", decodedTolerance: 1e-6, scaledTolerance: 1e-5)
    }

    func testPNMVariantsEqualReference() throws {
        _ = try compare(prefix: "pgm_", decodedTolerance: 1e-6, scaledTolerance: 1e-5)
        _ = try compare(prefix: "ppm_", decodedTolerance: 1e-6, scaledTolerance: 1e-5)
    }

    func testIDXRecordsEqualReference() throws {
        _ = try compare(prefix: "fmnist-test-4-images", decodedTolerance: 0, scaledTolerance: 1e-5)
        let ref = try Reference()
        let labels = try IDXFile(path: fixturePath("images", "fmnist-test-4-labels-idx1-ubyte.gz"))
        XCTAssertEqual(labels.count, 4)
        XCTAssertEqual(try (0..<labels.count).map { try labels.label(at: $0) }, ref.idxLabels)
        let images = try IDXFile(path: fixturePath("images", "fmnist-test-4-images-idx3-ubyte.gz"))
        XCTAssertEqual(images.dimensions, [4, 28, 28])
        // Plain and gzip files hold the same records.
        let plain = try IDXFile(path: fixturePath("images", "fmnist-test-4-images-idx3-ubyte"))
        XCTAssertEqual(try plain.image(at: 3), try images.image(at: 3))
    }

    func testJPEGVariantsWithinOneLevel() throws {
        let ref = try Reference()
        for name in ["jpeg_baseline.jpg", "jpeg_progressive.jpg", "jpeg_gray.jpg"] {
            XCTAssertTrue(ref.images.contains(name), "missing fixture \(name)")
        }
        XCTAssertEqual(try ImageDecoder.decode(path: fixturePath("images", "jpeg_gray.jpg")).channels, 1)
        _ = try compare(prefix: "jpeg_", decodedTolerance: 1.0 / 255 + 1e-6, scaledTolerance: 1.0 / 255 + 1e-5)
    }

    // MARK: - rules checked by hand on single pixels

    func testLumaIsBT601OnOnePixel() throws {
        let pixel = DecodedImage(width: 1, height: 1, channels: 3, sourceBitDepth: 8, samples: [0.2, 0.6, 1.0])
        let config = ModelConfig.PreprocessConfig(imageSize: [1, 1], channels: 1, mean: [0], std: [1])
        let y = try ImagePreprocessor(config: config)(pixel)
        XCTAssertEqual(y.count, 1)
        XCTAssertEqual(y[0], 0.299 * 0.2 + 0.587 * 0.6 + 0.114 * 1.0, accuracy: 1e-7)
        // Gray to RGB replicates.
        let gray = DecodedImage(width: 1, height: 1, channels: 1, sourceBitDepth: 8, samples: [0.25])
        let rgb = try ImagePreprocessor(config: .init(imageSize: [1, 1], channels: 3, mean: [0, 0, 0], std: [1, 1, 1]))(gray)
        XCTAssertEqual(rgb, [0.25, 0.25, 0.25])
    }

    func testAlphaIsCompositedOnBlack() throws {
        let rgba = DecodedImage(width: 1, height: 1, channels: 4, sourceBitDepth: 8, samples: [0.8, 0.4, 1.0, 0.5])
        let out = try ImagePreprocessor(config: .init(imageSize: [1, 1], channels: 3, mean: [0, 0, 0], std: [1, 1, 1]))(rgba)
        XCTAssertEqual(out, [0.4, 0.2, 0.5])
        let la = DecodedImage(width: 1, height: 1, channels: 2, sourceBitDepth: 8, samples: [1.0, 0.0])
        XCTAssertEqual(try ImagePreprocessor(config: .init(imageSize: [1, 1], channels: 1, mean: [0.5], std: [0.25]))(la), [-2])
    }

    func testCenterCropAndResize() {
        // 1 x 3 x 5: the crop keeps columns 1...3.
        let planes = ImagePreprocessor.Planes(channels: 1, height: 3, width: 5, values: (0..<15).map(Float.init))
        let crop = ImagePreprocessor.centerCropSquare(planes)
        XCTAssertEqual(crop.values, [1, 2, 3, 6, 7, 8, 11, 12, 13])
        // 4 columns of a 2-pixel row [0, 1] (PyTorch: [0, 0.25, 0.75, 1]); same size is the identity.
        let row = ImagePreprocessor.Planes(channels: 1, height: 1, width: 2, values: [0, 1])
        XCTAssertEqual(ImagePreprocessor.resizeBilinear(row, height: 1, width: 4).values, [0, 0.25, 0.75, 1])
        XCTAssertEqual(ImagePreprocessor.resizeBilinear(crop, height: 3, width: 3), crop)
    }

    func testDemoImagesHaveLabels() throws {
        let dir = repositoryRoot.appendingPathComponent("assets/images")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("labels.json"))) as! [String: Any]
        let list = json["images"] as! [[String: Any]]
        let images = Dictionary(uniqueKeysWithValues: list.map { ($0["file"] as! String, $0) })
        XCTAssertEqual(images.count, list.count, "file names are unique")
        var perClass = [Int: Int]()
        var sources = [String: Int]()
        for (file, entry) in images {
            let image = try ImageDecoder.decode(path: dir.appendingPathComponent(file).path)
            if let index = entry["class_index"] as? Int {           // Fashion-MNIST test records
                XCTAssertEqual([image.width, image.height, image.channels], [28, 28, 1], file)
                perClass[index, default: 0] += 1
            } else {                                                 // open-vocabulary pictograms (issue 16)
                XCTAssertEqual([image.width, image.height, image.channels], [32, 32, 3], file)
                XCTAssertNotNil(entry["licence"] as? String, file)
                sources[entry["source"] as? String ?? "?", default: 0] += 1
            }
            XCTAssertFalse((entry["class_name"] as? String ?? "").isEmpty, file)
        }
        XCTAssertEqual(perClass, Dictionary(uniqueKeysWithValues: (0..<10).map { ($0, 2) }))
        XCTAssertEqual(Set(sources.keys), ["emoji", "clipart"])
        XCTAssertEqual(sources.values.reduce(0, +), images.count - 20)
    }

    // MARK: - errors

    func bad(_ name: String) -> String { fixturePath("images", "bad/\(name)") }

    func testDecodingErrorsAreTyped() {
        let p = bad
        let cases: [(String, ImageError, [String])] = [
            ("empty.png", .empty(path: p("empty.png")), ["empty.png", "0 bytes"]),
            ("text.png", .notAnImage(path: p("text.png")), ["text.png", "not an image"]),
            ("truncated.png", .truncated(path: p("truncated.png"), format: "PNG"), ["truncated.png", "truncated PNG"]),
            ("truncated_signature.png", .truncated(path: p("truncated_signature.png"), format: "PNG"), ["truncated_signature.png"]),
            ("truncated.jpg", .truncated(path: p("truncated.jpg"), format: "JPEG"), ["truncated.jpg", "truncated JPEG"]),
            ("zero_width.png", .zeroSize(path: p("zero_width.png"), width: 0, height: 1), ["zero_width.png", "0x1"]),
            ("huge.png", .tooLarge(path: p("huge.png"), width: 20000, height: 20000), ["huge.png", "20000x20000", "16384"]),
            ("huge.jpg", .tooLarge(path: p("huge.jpg"), width: 20000, height: 20000), ["huge.jpg", "20000x20000"]),
            ("zero_height.pgm", .zeroSize(path: p("zero_height.pgm"), width: 7, height: 0), ["zero_height.pgm", "7x0"]),
            ("huge_side.ppm", .tooLarge(path: p("huge_side.ppm"), width: 17000, height: 10), ["huge_side.ppm", "17000x10"]),
            ("huge_area.pgm", .tooLarge(path: p("huge_area.pgm"), width: 10000, height: 10000), ["huge_area.pgm", "67108864"]),
            ("truncated.ppm", .truncated(path: p("truncated.ppm"), format: "PNM"), ["truncated.ppm", "truncated PNM"]),
            ("truncated_ascii.pgm", .truncated(path: p("truncated_ascii.pgm"), format: "PNM"), ["truncated_ascii.pgm"]),
            ("above_maxval.pgm", .corrupt(path: p("above_maxval.pgm"), format: "PNM", reason: "sample 11 above maxval 10"),
             ["above_maxval.pgm", "sample 11 above maxval 10"]),
            ("bad_magic.idx", .notAnImage(path: p("bad_magic.idx")), ["bad_magic.idx"]),
        ]
        for (name, expected, mentions) in cases {
            assertThrows(expected, mentions: mentions) { _ = try ImageDecoder.decode(path: p(name)) }
        }
        assertThrows(ImageError.cannotOpen(path: p("missing.png"), reason: "no such file"), mentions: ["missing.png"]) {
            _ = try ImageDecoder.decode(path: p("missing.png"))
        }
    }

    func testLibraryErrorsKeepTheirMessage() {
        // libpng's and TurboJPEG's own words, on one line, naming the file.
        for (name, format, words) in [("corrupt_crc.png", "PNG", "CRC"), ("bad_precision.jpg", "JPEG", "precision 7"),
                                      ("garbage.jpg", "JPEG", "no frame header (SOF)")] {
            do {
                _ = try ImageDecoder.decode(path: bad(name))
                XCTFail("\(name) decoded")
            } catch let ImageError.corrupt(path, f, reason) {
                XCTAssertEqual(path, bad(name))
                XCTAssertEqual(f, format)
                XCTAssertTrue(reason.contains(words), "\(name): '\(reason)' lacks '\(words)'")
                let message = ImageError.corrupt(path: path, format: f, reason: reason).description
                print("ImageTests: \(message)")
                XCTAssertTrue(message.hasPrefix(bad(name) + ": corrupt \(format): "), message)
                XCTAssertFalse(message.contains("\n"))
            } catch {
                XCTFail("\(name): expected ImageError.corrupt, got \(error)")
            }
        }
    }

    func testIDXErrorsAreTyped() throws {
        let gz = fixturePath("images", "fmnist-test-4-images-idx3-ubyte.gz")
        let images = try IDXFile(path: gz)
        for index in [4, -1, 60000] {
            assertThrows(ImageError.idxRecordOutOfRange(path: gz, index: index, count: 4), mentions: [gz, "record \(index)", "4 records"]) {
                _ = try images.image(at: index)
            }
        }
        let labels = fixturePath("images", "fmnist-test-4-labels-idx1-ubyte.gz")
        assertThrows(ImageError.idxRecordOutOfRange(path: labels, index: 4, count: 4), mentions: ["record 4"]) {
            _ = try IDXFile(path: labels).label(at: 4)
        }
        assertThrows(ImageError.idxBadMagic(path: bad("bad_magic.idx")), mentions: ["bad_magic.idx", "bad magic"]) {
            _ = try IDXFile(path: bad("bad_magic.idx"))
        }
        assertThrows(ImageError.truncated(path: bad("truncated.idx"), format: "IDX"), mentions: ["truncated.idx", "truncated IDX"]) {
            _ = try IDXFile(path: bad("truncated.idx"))
        }
        assertThrows(ImageError.truncated(path: bad("truncated-idx3-ubyte.gz"), format: "gzip"), mentions: ["truncated gzip"]) {
            _ = try IDXFile(path: bad("truncated-idx3-ubyte.gz"))
        }
        assertThrows(ImageError.zeroSize(path: bad("zero_rows.idx"), width: 28, height: 0), mentions: ["zero_rows.idx", "28x0"]) {
            _ = try IDXFile(path: bad("zero_rows.idx"))
        }
        assertThrows(ImageError.empty(path: bad("empty.png")), mentions: ["empty.png"]) { _ = try IDXFile(path: bad("empty.png")) }
        assertThrows(ImageError.unsupported(path: labels, reason: "IDX file holds labels (1 dimension), not images"),
                     mentions: ["labels"]) { _ = try IDXFile(path: labels).image(at: 0) }
    }

    func testBadTargetsAreRejected() {
        let cases: [(ModelConfig.PreprocessConfig, String)] = [
            (.init(imageSize: [28, 28], channels: 2, mean: [0, 0], std: [1, 1]), "channels 2"),
            (.init(imageSize: [28], channels: 1, mean: [0], std: [1]), "image_size"),
            (.init(imageSize: [28, 28], channels: 3, mean: [0], std: [1]), "mean and std need 3"),
            (.init(imageSize: [28, 28], channels: 1, mean: [0], std: [0]), "std"),
        ]
        for (config, words) in cases {
            XCTAssertThrowsError(try ImagePreprocessor(config: config)) { error in
                guard case ImageError.badTarget = error else { return XCTFail("expected badTarget, got \(error)") }
                XCTAssertTrue("\(error)".contains(words), "'\(error)' lacks '\(words)'")
            }
        }
    }
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
