import Foundation
import XCTest
@testable import TUI
@testable import Visualize

/// Full-frame snapshots at 80x24 and 120x40, characters and color roles, braille and ASCII, on the parity fixture
/// with the first demo image. Re-record with `RECORD_SNAPSHOTS=1 swift test --filter FrameSnapshotTests`.
final class FrameSnapshotTests: XCTestCase {
    static let directory = root.appendingPathComponent("Tests/TUITests/__Snapshots__")

    /// The frame as text: characters, then a blank line, then the role letters; timings masked.
    func snapshot(_ grid: CellGrid) -> String {
        return (grid.lines + [""] + grid.roleLines).joined(separator: "\n") + "\n"
    }

    func assertSnapshot(_ grid: CellGrid, named name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = Self.directory.appendingPathComponent(name + ".txt")
        let actual = snapshot(grid)
        if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] != nil {
            try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true)
            try actual.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            XCTFail("missing snapshot \(url.path); record with RECORD_SNAPSHOTS=1", file: file, line: line)
            return
        }
        if actual != expected {
            let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
            let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let first = zip(a, e).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, e.count)
            XCTFail("\(name) differs at line \(first + 1):\n  expected: \(first < e.count ? String(e[first]) : "<end>")\n  actual:   \(first < a.count ? String(a[first]) : "<end>")", file: file, line: line)
        }
    }

    func testFrames() throws {
        for glyphs in [GlyphSet.ascii, .braille] {
            let e = try makeExplorer(glyphs: glyphs)
            e.showTimings = false
            try assertSnapshot(e.frame(width: 120, height: 40), named: "tiled-120x40-\(glyphs.rawValue)")
            for panel in PanelID.allCases {
                e.focus(panel)
                try assertSnapshot(e.frame(width: 80, height: 24), named: "panel-\(panel)-80x24-\(glyphs.rawValue)")
            }
        }
    }

    /// Prompts in CJK, fullwidth Latin, an emoji ZWJ sequence, a flag and combining accents on the trained default
    /// (text prompts, so every panel shows them): drawn at their width in UTF-8, `?` per column in ASCII, every
    /// border in place (issue 11).
    /// Presenter mode (issue 18) on the trained default: every panel at 80x24, and at 120x40 (one panel, not tiled),
    /// each with its explanation and the narration of the step shown (t = 2 here).
    func testPresenterFrames() throws {
        let checkpoint = root.appendingPathComponent("assets/checkpoints/default.safetensors").path
        let e = try ExplorerSession.make(checkpoint: checkpoint, assets: assetsDir, glyphs: .braille)
        e.showTimings = false
        e.settle()
        _ = e.frame(width: 80, height: 24)
        XCTAssertTrue(e.handle(.char("Z")))
        XCTAssertTrue(e.handle(.char(".")))
        e.settle()
        for panel in PanelID.allCases {
            e.focus(panel)
            for (w, h) in [(80, 24), (120, 40)] {
                let frame = e.frame(width: w, height: h)
                assertSafeFrame(frame, width: w, height: h, "presenter \(panel)", compactLayout: false)
                // Title row, the panel's box from row 2, the explanation box above the status line.
                XCTAssertTrue(frame.lines[1].contains(panel.title.uppercased().map(String.init).joined(separator: " ")), frame.lines[1])
                XCTAssertTrue("┌".contains(frame[0, 2].character), "\(panel) \(w)x\(h): \(frame.lines[2])")
                XCTAssertTrue(frame.lines.contains { $0.hasPrefix("┌ What this shows") })
                XCTAssertTrue(frame.lines[h - 2].hasPrefix("└"), frame.lines[h - 2])
                try assertSnapshot(frame, named: "presenter-\(panel)-\(w)x\(h)")
            }
        }
    }

    static let widePrompts = ["東京タワー", "ｆｕｌｌ ｗｉｄｔｈ coat", "👨‍👩‍👧 family", "🇯🇵 flag", "cafe\u{301} cre\u{300}me shirt", "sneaker 👟"]

    func testWideCharacterFrames() throws {
        let checkpoint = root.appendingPathComponent("assets/checkpoints/default.safetensors").path
        for glyphs in [GlyphSet.braille, .ascii] {
            let e = try ExplorerSession.make(checkpoint: checkpoint, assets: assetsDir, glyphs: glyphs, prompts: Self.widePrompts)
            e.settle()
            e.showTimings = false
            XCTAssertNil(e.error)
            for panel in [PanelID.prompts, .compare, .energy, .anytime] {
                e.focus(panel)
                let frame = e.frame(width: 80, height: 24)
                assertSafeFrame(frame, width: 80, height: 24, "\(panel) \(glyphs)")
                try assertSnapshot(frame, named: "wide-\(panel)-80x24-\(glyphs.rawValue)")
            }
            // Typing a wide prompt: the edit line keeps its end in view without cutting a character.
            e.focus(.prompts)
            _ = e.handle(.char("a"))
            for ch in String(repeating: "猫👨‍👩‍👧", count: 20) { _ = e.handle(.char(ch)) }
            let editing = e.frame(width: 80, height: 24)
            assertSafeFrame(editing, width: 80, height: 24, "editing \(glyphs)")
            try assertSnapshot(editing, named: "wide-editing-80x24-\(glyphs.rawValue)")
            _ = e.handle(.escape)
            let tiled = e.frame(width: 120, height: 40)
            assertSafeFrame(tiled, width: 120, height: 40, "tiled \(glyphs)")
        }
    }

    /// A converted official file (no twin, CLIP BPE at L = 20, `clip-then-resize`) with its random-weight CLIP
    /// folder as the ANN side (issue 14): every panel at 80x24 and the tiled layout at 120x40.
    func testOfficialImportFrames() throws {
        let checkpoint = root.appendingPathComponent("Tests/Fixtures/official-import/model.safetensors").path
        let e = try ExplorerSession.make(checkpoint: checkpoint, assets: assetsDir, glyphs: .braille)
        e.settle()
        e.showTimings = false
        XCTAssertNil(e.error)
        let tiled = e.frame(width: 120, height: 40)
        assertSafeFrame(tiled, width: 120, height: 40, "official tiled")
        try assertSnapshot(tiled, named: "official-tiled-120x40-braille")
        var seen: [PanelID: String] = [:]
        for panel in PanelID.allCases {
            e.focus(panel)
            let frame = e.frame(width: 80, height: 24)
            assertSafeFrame(frame, width: 80, height: 24, "official \(panel)")
            try assertSnapshot(frame, named: "official-panel-\(panel)-80x24-braille")
            seen[panel] = frame.lines.joined(separator: "\n")
        }
        // Both views of the image, CLIP as the ANN side with its dense counts, the CLIP BPE token counter.
        XCTAssertTrue(seen[.image]!.contains("CLIP 224px") && seen[.image]!.contains("SNN 32x32"), seen[.image]!)
        XCTAssertTrue(seen[.energy]!.contains("CLIP image tower"), seen[.energy]!)
        XCTAssertTrue(seen[.energy]!.contains("CLIP") && seen[.energy]!.contains("text per prompt"), seen[.energy]!)
        XCTAssertTrue(seen[.compare]!.contains("KL(ANN||SNN)") || seen[.compare]!.contains("KL "), seen[.compare]!)
        XCTAssertTrue(seen[.prompts]!.contains("/20"), seen[.prompts]!)
    }
}
