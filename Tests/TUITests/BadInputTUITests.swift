import Foundation
import XCTest
@testable import SpikeCLIP
@testable import TUI
@testable import Visualize

/// Prompts a user may paste or pass on the command line: escape sequences, controls, emoji, combining marks,
/// right-to-left text, Hangul jamo, spacing marks, 10,000 characters.
let hostilePrompts = [
    "\u{1B}[2J\u{1B}[31mred\u{1B}[0m", "bell\u{07}\u{08}\u{7F}\u{9B}31m", "two\nlines\r\n", "👩‍👩‍👧 family 🙂", "🇫🇷 flag",
    "e\u{301}te\u{301} cafe\u{301}", "\u{202E}desrever\u{202C} שלום مرحبا", "\u{1161}\u{11A8} jamo \u{1100}", "\u{093F}mark \u{0D4E}",
    "line\u{2028}sep\u{2029}", "private \u{E000} unassigned \u{0378}", "猫 ｃａｔ", String(repeating: "dress ", count: 1667),
]

/// Asserts that `frame` is safe to send to a terminal: `height` lines each taking exactly `width` terminal columns
/// (a wide character counts two, ``displayWidth(_:)``), every Character one whose width is known, no C0/C1 control or
/// DEL anywhere, and the focused panel's box (compact layout, ASCII or box-drawing glyphs) intact.
func assertSafeFrame(_ frame: CellGrid, width: Int, height: Int, _ what: String, compactLayout: Bool = true, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(frame.width, width, what, file: file, line: line)
    let lines = frame.lines
    XCTAssertEqual(lines.count, height, what, file: file, line: line)
    for (y, text) in lines.enumerated() {
        XCTAssertEqual(displayWidth(text), width, "\(what): line \(y) takes \(displayWidth(text)) columns: \(text)", file: file, line: line)
        for ch in text where terminalWidth(ch) == nil {
            XCTFail("\(what): line \(y) holds \(visibleScalars(String(ch))), whose width is unknown", file: file, line: line)
        }
        let bad = text.unicodeScalars.filter { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
        XCTAssertTrue(bad.isEmpty, "\(what): line \(y) holds control characters \(bad.map(\.value))", file: file, line: line)
    }
    guard compactLayout, lines.count == height, width >= ExplorerView.minimumSize.width, width < ExplorerView.tiledSize.width else { return }
    // Compact layout: the focused panel's box spans rows 1 ... height - 2 and the whole width.
    for (x, y) in [(0, 1), (width - 1, 1), (0, height - 2), (width - 1, height - 2)] {
        XCTAssertTrue("+┌┐└┘".contains(frame[x, y].character), "\(what): corner (\(x), \(y)) is \(frame[x, y].character)", file: file, line: line)
    }
    for y in 2..<(height - 2) {
        XCTAssertTrue("|│".contains(frame[0, y].character), "\(what): left border row \(y)", file: file, line: line)
        XCTAssertTrue("|│".contains(frame[width - 1, y].character), "\(what): right border row \(y): \(lines[y])", file: file, line: line)
    }
}

final class HostilePromptTests: XCTestCase {
    /// Regression: terminalSafe kept single scalars that take no column or join a neighbouring cell (a spacing mark,
    /// a Hangul vowel jamo, a Prepend letter), and line separators and private-use characters of unknown width.
    func testTerminalSafeRejectsZeroWidthJoiningAndUnknownWidthScalars() {
        for text in ["\u{093F}", "\u{0D4E}", "\u{1161}", "\u{11A8}", "\u{FF9E}", "\u{2028}", "\u{2029}", "\u{E000}", "\u{0378}", "\u{A960}"] {
            XCTAssertEqual(terminalSafe(text), "?", visibleScalars(text))
        }
        // Each survivor stands alone: a cell's character never joins its neighbour's.
        let mixed = "a\u{093F}b\u{1161}c \u{0D4E}d"
        let safe = terminalSafe(mixed)
        XCTAssertEqual(safe, "?b?c ?")  // a+mark, b, vowel jamo, c, space, Prepend+d
        XCTAssertEqual(("|" + safe + "|").count, safe.count + 2)
        // Still kept: Latin, Greek, Cyrillic, Hebrew and Arabic letters, box drawing, braille.
        XCTAssertEqual(terminalSafe("aé Ωж שא ─⣿"), "aé Ωж שא ─⣿")
    }

    func testHostilePromptsGivenAtStartRenderSafely() throws {
        for glyphs in [GlyphSet.ascii, .braille] { try hostilePromptsGivenAtStart(glyphs: glyphs) }
    }

    func hostilePromptsGivenAtStart(glyphs: GlyphSet) throws {
        let e = try ExplorerSession.make(checkpoint: fixtureCheckpoint, assets: assetsDir, glyphs: glyphs, prompts: hostilePrompts)
        e.settle()
        XCTAssertEqual(e.state.classNames, hostilePrompts)
        // The fixture takes token ids, so the analysis fails: the error names the prompt on one short line.
        let error = try XCTUnwrap(e.error)
        XCTAssertTrue(error.contains("is not a list of integers"), error)
        XCTAssertFalse(error.contains("\n") || error.contains("\u{1B}"), error)
        XCTAssertLessThan(error.count, 200, error)
        for (i, panel) in PanelID.allCases.enumerated() {
            _ = e.handle(.char(Character(String(i + 1))))
            for (w, h) in [(80, 24), (60, 16)] {
                let frame = e.frame(width: w, height: h)
                assertSafeFrame(frame, width: w, height: h, "\(panel.title) at \(w)x\(h)")
                if panel == .prompts {
                    XCTAssertTrue(frame.lines.joined().contains("?[2J?[31mred?[0m"), frame.lines.joined(separator: "\n"))
                    // Wide text is drawn in UTF-8 mode and only there; ASCII mode shows `?` per column.
                    if h == 24 { XCTAssertEqual(frame.lines.joined().contains("猫 ｃａｔ"), glyphs != .ascii, frame.lines.joined(separator: "\n")) }
                    XCTAssertTrue(frame.lines[h - 1].contains("this checkpoint takes token ids"), frame.lines[h - 1])
                }
            }
        }
        assertSafeFrame(e.frame(width: 120, height: 40), width: 120, height: 40, "tiled")
        assertSafeFrame(e.frame(width: 200, height: 60), width: 200, height: 60, "tiled 200x60")
        // Scrolling through every prompt keeps the frame intact (the 10,000-character one is cut to the panel).
        _ = e.handle(.char("1"))
        for i in 0..<hostilePrompts.count {
            assertSafeFrame(e.frame(width: 80, height: 24), width: 80, height: 24, "prompt \(i) selected")
            _ = e.handle(.char("j"))
        }
    }

    func testHostilePromptsTypedRenderSafely() throws {
        let e = try makeExplorer()
        for prompt in hostilePrompts.dropLast() {
            _ = e.handle(.char("a"))
            for c in prompt { _ = e.handle(.char(c)) }
            assertSafeFrame(e.frame(width: 80, height: 24), width: 80, height: 24, "typing \(visibleScalars(prompt))")
            _ = e.handle(.enter)
            let added = try XCTUnwrap(e.state.classNames.last)
            XCTAssertFalse(added.unicodeScalars.contains { $0.properties.generalCategory == .control }, visibleScalars(added))
            assertSafeFrame(e.frame(width: 80, height: 24), width: 80, height: 24, "after \(visibleScalars(prompt))")
        }
    }

    func testTypedPromptIsCappedWithAMessage() throws {
        let e = try makeExplorer()
        _ = e.handle(.char("a"))
        for _ in 0..<10_000 { _ = e.handle(.char("x")) }
        XCTAssertEqual(e.state.editBuffer?.count, ExplorerState.maxPromptLength)
        let frame = e.frame(width: 80, height: 24)
        assertSafeFrame(frame, width: 80, height: 24, "10,000 typed characters")
        XCTAssertTrue(frame.lines[23].contains("a prompt holds at most 500 characters"), frame.lines[23])
        _ = e.handle(.enter)
        XCTAssertEqual(e.state.classNames.last?.count, 500)
    }

    func testEmptyAndWhitespacePrompts() throws {
        // Given at start: a typed error naming the prompt's position, before anything is loaded.
        for (prompts, index) in [(["shirt", ""], 2), ([" \t\u{3000}\n"], 1)] {
            XCTAssertThrowsError(try ExplorerSession.make(checkpoint: fixtureCheckpoint, assets: assetsDir, glyphs: .ascii, prompts: prompts)) {
                XCTAssertEqual($0 as? ExplorerError, .emptyPrompt(index: index))
                XCTAssertEqual("\($0)", "class prompt \(index) is empty or only whitespace")
            }
        }
        XCTAssertThrowsError(try ExplorerSession.make(checkpoint: fixtureCheckpoint, assets: assetsDir, glyphs: .ascii, templates: ["{}", "  "])) {
            XCTAssertEqual("\($0)", "prompt template 2 is empty or only whitespace")
        }
        // Typed: not added, and the status line says why.
        let e = try makeExplorer()
        let before = e.state.classNames
        for keys: [Key] in [[.char("a"), .enter], [.char("a"), .char(" "), .char("\u{3000}"), .char("\t"), .enter]] {
            for key in keys { _ = e.handle(key) }
            XCTAssertEqual(e.state.classNames, before)
            XCTAssertTrue(e.frame(width: 80, height: 24).lines[23].contains("empty prompt not added"))
        }
    }

    /// Regression: the error for a non-integer prompt of a token-id checkpoint quoted the prompt raw, so a prompt with
    /// a newline gave a two-line message and a long one a 10,000-character message.
    func testNotTokenIdsMessageIsOneShortLine() {
        let message = PromptError.notTokenIds(prompt: "a\nb\u{1B}[2J" + String(repeating: "x", count: 10_000)).description
        XCTAssertEqual(message, "this checkpoint takes token ids (tokenizer kind 'ids'): 'a\\u{a}b\\u{1b}[2J" + String(repeating: "x", count: 33)
                       + "...' is not a list of integers")
    }
}

/// `text` with every scalar outside printable ASCII written as `\u{..}` (for failure messages).
func visibleScalars(_ text: String) -> String {
    text.unicodeScalars.prefix(60).map { $0.isASCII && $0.value >= 32 && $0.value < 127 ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined()
}

final class HostileDirectoryTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        // Short, so that error messages naming a file inside fit the 80-column status line.
        folder = NSTemporaryDirectory() + "scd\(getpid())-\(name.count)"
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        chmod(folder + "/locked", 0o755)
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testUnreadableDanglingAndLoopingEntries() throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder + "/locked", withIntermediateDirectories: false)
        try Data().write(to: URL(fileURLWithPath: folder + "/locked/inside.png"))
        XCTAssertEqual(chmod(folder + "/locked", 0), 0)
        try fm.copyItem(atPath: assetsDir + "/images/bag_0018.png", toPath: folder + "/ok.png")
        try Data("not an image\n".utf8).write(to: URL(fileURLWithPath: folder + "/text.png"))
        try fm.createSymbolicLink(atPath: folder + "/gone.png", withDestinationPath: folder + "/missing.png")
        try fm.createSymbolicLink(atPath: folder + "/loop1.png", withDestinationPath: folder + "/loop2.png")
        try fm.createSymbolicLink(atPath: folder + "/loop2.png", withDestinationPath: folder + "/loop1.png")
        try fm.createSymbolicLink(atPath: folder + "/cycle", withDestinationPath: folder)

        // Dangling links and link loops are skipped; the directory cycle is listed as a folder.
        XCTAssertEqual(ImageCatalog.list(directory: folder).map(\.name), ["..", "cycle", "locked", "ok.png", "text.png"])
        // A folder that cannot be listed (missing, or mode 000 for a non-root user) shows only "..".
        XCTAssertEqual(ImageCatalog.list(directory: folder + "/missing"), [DirectoryEntry(name: "..", isDirectory: true)])

        let e = try makeExplorer()
        _ = e.handle(.char("2"))
        e.state.source = .directory
        e.state.directory = folder
        e.browse("."); e.settle()
        e.browse("locked"); e.settle()
        let locked = e.state.directoryEntries.map(\.name)
        XCTAssertEqual(locked.first, "..")
        XCTAssertTrue(locked == [".."] || locked == ["..", "inside.png"], "\(locked)")  // root may read a mode-000 folder
        assertSafeFrame(e.frame(width: 80, height: 24), width: 80, height: 24, "inside the locked folder")
        // Following the cycle 100 times neither crashes nor loses the way back.
        e.browse(".."); e.settle()
        for _ in 0..<100 { e.browse("cycle") }
        e.settle()
        XCTAssertEqual(e.state.directoryEntries.first?.name, "..")
        assertSafeFrame(e.frame(width: 80, height: 24), width: 80, height: 24, "deep in the cycle")
        // Opening the text file named .png: a one-line error in the status line, the previous image kept.
        e.state.directory = folder
        e.browse("."); e.settle()
        let before = e.image?.title
        while e.state.directoryEntries[e.state.directorySelection].name != "text.png" { _ = e.handle(.char("j")) }
        _ = e.handle(.enter)
        e.settle()
        XCTAssertEqual(e.image?.title, before)
        XCTAssertEqual(e.error, ImageError.notAnImage(path: folder + "/text.png").description)
        XCTAssertTrue(e.frame(width: 80, height: 24).lines[23].contains("not an image"))
    }

    func testFiveThousandFilesListWithinTheLimitAndRender() throws {
        for i in 0..<5000 {
            XCTAssertTrue(FileManager.default.createFile(atPath: folder + String(format: "/img%05d.png", i), contents: nil))
        }
        let start = Date()
        let entries = ImageCatalog.list(directory: folder)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(entries.count, 1 + 5000)
        XCTAssertEqual(entries[1].name, "img00000.png")
        XCTAssertEqual(entries.last?.name, "img04999.png")
        XCTAssertLessThan(seconds, 5, "listing 5,000 files took \(seconds) s")
        // Above the limit the listing stops at `limit` entries besides "..".
        XCTAssertEqual(ImageCatalog.list(directory: folder, limit: 100).count, 101)

        let e = try makeExplorer()
        _ = e.handle(.char("2"))
        e.state.source = .directory
        e.state.directory = folder
        e.browse("."); e.settle()
        XCTAssertEqual(e.state.directoryEntries.count, 5001)
        for _ in 0..<3 { _ = e.handle(.char("j")) }
        assertSafeFrame(e.frame(width: 80, height: 24), width: 80, height: 24, "top of 5,000 files")
        e.state.directorySelection = 5000
        let frame = e.frame(width: 80, height: 24)
        assertSafeFrame(frame, width: 80, height: 24, "bottom of 5,000 files")
        XCTAssertTrue(frame.lines.contains { $0.contains("> img04999.png") }, frame.lines.joined(separator: "\n"))
        // Every file is empty: opening one is a typed error, not a crash.
        _ = e.handle(.enter)
        e.settle()
        XCTAssertEqual(e.error, ImageError.empty(path: folder + "/img04999.png").description)
    }
}
