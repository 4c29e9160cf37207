import Foundation
import XCTest
@testable import SpikeCLIP

/// The open-vocabulary evaluation sets (issue 16): the emoji font reader, the pictogram geometry against the
/// Python builder's bytes (Tests/Fixtures/open-views, `python -m spikeclip_training.opendata --view-fixture`),
/// the committed manifest, and malformed input.
final class OpenVocabularySetTests: XCTestCase {
    let fixture = repositoryRoot.appendingPathComponent("Tests/Fixtures/open-views")
    let manifest = repositoryRoot.appendingPathComponent(OpenVocabularySet.defaultManifest).path

    func testAreaRowsAverageExactBlocksAndSplitFractionalPixels() {
        let halves = PictogramGeometry.areaRows(input: 4, output: 2)
        XCTAssertEqual(halves.map(\.first), [0, 2])
        XCTAssertEqual(halves[0].weights, [0.5, 0.5])
        let thirds = PictogramGeometry.areaRows(input: 3, output: 2)
        XCTAssertEqual(thirds[0].first, 0)
        XCTAssertEqual(thirds[0].weights[0], 2.0 / 3, accuracy: 1e-15)
        XCTAssertEqual(thirds[1].first, 1)
        XCTAssertEqual(thirds[1].weights[1], 2.0 / 3, accuracy: 1e-15)
    }

    func testGeometryPadsToSquareAndCentres() {
        // opaque red, 100 wide and 50 high: 14 of the 28 content rows, a transparent 2-pixel margin, black around
        let red = DecodedImage(width: 100, height: 50, channels: 3, sourceBitDepth: 8,
                               samples: (0..<5000).flatMap { _ in [Float(1), 0, 0] })
        let rgba = PictogramGeometry.rgba(red)
        let alpha = stride(from: 3, to: rgba.count, by: 4).map { rgba[$0] }
        let rows = (0..<32).filter { y in (0..<32).contains { alpha[y * 32 + $0] > 0 } }
        XCTAssertEqual(rows.first, 9)
        XCTAssertEqual(rows.last, 22)
        XCTAssertEqual((0..<32).filter { alpha[16 * 32 + $0] > 0 }, Array(2..<30))
        let view = PictogramGeometry.view(red)
        XCTAssertEqual(view.samples[(16 * 32 + 16) * 3], 1)
        XCTAssertEqual(view.samples[(0 * 32 + 16) * 3], 0)
    }

    /// The views rebuilt from the installed packages are the Python builder's bytes.
    func testViewsMatchThePythonBuilder() throws {
        let data = try Data(contentsOf: fixture.appendingPathComponent("pictures.json"))
        let pictures = try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["pictures"] as? [String])
        XCTAssertEqual(pictures.count, 8)
        let font = try EmojiFont()
        for (i, picture) in pictures.enumerated() {
            let source: DecodedImage
            if picture.hasPrefix("U+") {
                source = try ImageDecoder.decode(data: try font.png(codePoint: UInt32(picture.dropFirst(2), radix: 16)!), path: picture)
            } else {
                source = try ImageDecoder.decode(path: "/usr/share/openclipart/png/" + picture)
            }
            let ours = PictogramGeometry.view(source).samples.map { Int(($0 * 255).rounded()) }
            let python = try ImageDecoder.decode(path: fixture.appendingPathComponent("\(i).png").path).samples.map { Int(($0 * 255).rounded()) }
            XCTAssertEqual(ours.count, python.count)
            let off = zip(ours, python).filter { $0 != $1 }
            // float64 sums in another order may move a value that sits on a rounding boundary by one level
            XCTAssertLessThanOrEqual(off.count, 3, "\(picture): \(off.count) samples differ")
            XCTAssertTrue(off.allSatisfy { abs($0.0 - $0.1) == 1 }, "\(picture): \(off.prefix(4))")
        }
    }

    func testManifestSetsLoadWithLabelsInRange() throws {
        let held = try OpenVocabularySet(set: "heldout", manifest: manifest)
        XCTAssertGreaterThanOrEqual(held.classNames.count, 200, "issue 16: at least 200 held-out concepts")
        XCTAssertGreaterThanOrEqual(held.count, held.classNames.count)
        XCTAssertEqual(Set(try (0..<held.count).map(held.label(at:))).count, held.classNames.count, "every held-out concept has a picture")
        let image = try held.image(at: 0)
        XCTAssertEqual([image.width, image.height, image.channels], [32, 32, 3])
        let seen = try OpenVocabularySet(set: "seen-test", manifest: manifest)
        XCTAssertTrue(Set(seen.classNames).isDisjoint(with: held.classNames))
        XCTAssertThrowsError(try held.image(at: held.count))
    }

    func testMalformedManifestAndFontAreOneLineErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("open-sets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(String, String)] = [
            ("[1, 2]", "not a JSON object"),
            (#"{"format": "other"}"#, "format"),
            (#"{"format": "spikeclip-open-sets", "sets": {}}"#, "no set 'heldout'"),
            (#"{"format": "spikeclip-open-sets", "sets": {"heldout": {"classes": ["a"], "pictures": [{"picture": "x.png", "label": 3}]}}}"#, "label in 0..<1"),
        ]
        for (i, (body, why)) in cases.enumerated() {
            let path = dir.appendingPathComponent("m\(i).json").path
            try body.write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try OpenVocabularySet(set: "heldout", manifest: path)) { error in
                let text = String(describing: error)
                XCTAssertTrue(text.contains(path) && text.contains(why) && !text.contains("\n"), text)
            }
        }
        // a path leaving the clip-art folder is refused, not read
        let escape = dir.appendingPathComponent("escape.json").path
        try #"{"format": "spikeclip-open-sets", "clipart_dir": "/usr/share/openclipart/png", "sets": {"heldout": {"classes": ["a"], "pictures": [{"picture": "../../../etc/passwd", "label": 0}]}}}"#
            .write(toFile: escape, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try OpenVocabularySet(set: "heldout", manifest: escape).image(at: 0))
        // truncated fonts: every cut ends in an ImageError (or, past the tables read, a valid reader), never a crash
        let font = try [UInt8](Data(contentsOf: URL(fileURLWithPath: EmojiFont.defaultPath)))
        for cut in [0, 3, 11, 40, 300, 5000, font.count / 2] {
            let path = dir.appendingPathComponent("cut\(cut).ttf").path
            try Data(font.prefix(cut)).write(to: URL(fileURLWithPath: path))
            do {
                let f = try EmojiFont(path: path)
                _ = try? f.png(codePoint: 0x1F600)
            } catch {
                XCTAssertTrue(error is ImageError && String(describing: error).contains(path), "\(error)")
            }
        }
        XCTAssertThrowsError(try EmojiFont().png(codePoint: 0x41)) { error in
            XCTAssertTrue(String(describing: error).contains("no colour bitmap for U+0041"), "\(error)")
        }
    }
}
