import Foundation
import XCTest
@testable import Visualize

#if canImport(Glibc)
import Glibc
#endif

/// The C library's `wcwidth(3)` (not exported by the Glibc module).
@_silgen_name("wcwidth") func c_wcwidth(_ c: Int32) -> Int32

/// Wide characters, emoji sequences, flags and combining accents in the cell grid (issue 11): drawn at their
/// terminal width, never cut through, and with widths that agree with the C library curses and tmux use.
final class WideTextTests: XCTestCase {
    /// Every scalar the grid draws gets the width glibc's `wcwidth` gives it (ncurses lays text out with it; a
    /// disagreement would shift every cell after the character).
    func testWidthsAgreeWithTheCLibrary() throws {
        let saved = setlocale(LC_CTYPE, nil).map { String(cString: $0) } ?? "C"
        guard setlocale(LC_CTYPE, "C.UTF-8") != nil else { return XCTFail("no C.UTF-8 locale on this machine") }
        defer { _ = setlocale(LC_CTYPE, saved) }
        var mismatches: [String] = [], counts = [1: 0, 2: 0]
        for v in UInt32(0)...0x10FFFF {
            guard let s = Unicode.Scalar(v), let ours = terminalWidth(Character(s)) else { continue }
            counts[ours, default: 0] += 1
            let theirs = Int(c_wcwidth(Int32(bitPattern: v)))
            if theirs != ours { mismatches.append(String(format: "U+%04X ours %d wcwidth %d", v, ours, theirs)) }
        }
        XCTAssertEqual(mismatches.count, 0, mismatches.prefix(20).joined(separator: "; "))
        XCTAssertGreaterThan(counts[2] ?? 0, 90_000, "CJK and emoji are drawn two columns wide")
        XCTAssertGreaterThan(counts[1] ?? 0, 20_000)
    }

    func testClusterWidths() {
        let cases: [(String, Int?)] = [
            ("a", 1), ("é", 1), ("e\u{301}", 1), ("Ω", 1), ("ｱ", 1),
            ("東", 2), ("Ａ", 2), ("🙂", 2), ("👨‍👩‍👧", 2), ("👍🏽", 2), ("🇯🇵", 2), ("🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}", 2),
            ("\u{1B}", nil), ("\u{7F}", nil), ("\u{9B}", nil), ("\u{202E}", nil), ("\u{200D}", nil), ("\u{301}", nil),
            ("\u{1F1EF}", nil), ("❤\u{FE0F}", nil), ("\u{E000}", nil), ("\u{0378}", nil), ("\u{1100}\u{1161}", nil),
            ("a\u{200D}", nil), ("🙂\u{200D}", nil), ("a\u{FE0F}", nil),
        ]
        for (text, width) in cases {
            guard text.count == 1 else { XCTFail("\(text) is not one grapheme cluster"); continue }
            XCTAssertEqual(terminalWidth(Character(text)), width, text.unicodeScalars.map { String($0.value, radix: 16) }.joined(separator: " "))
        }
    }

    func testCursesTextIsWhatCursesLaysOutInTheSameColumns() {
        XCTAssertEqual(cursesText("👨‍👩‍👧"), "👨")
        XCTAssertEqual(cursesText("👍🏽"), "👍")
        XCTAssertEqual(cursesText("🇯🇵"), "🇯🇵")
        XCTAssertEqual(cursesText("e\u{301}"), "e\u{301}")
        XCTAssertEqual(cursesText("東"), "東")
    }

    func testDisplayPrefixAndSuffixNeverCutACharacter() {
        let text = "a東京👨‍👩‍👧b"
        XCTAssertEqual(displayWidth(text), 8)
        XCTAssertEqual(displayPrefix(text, columns: 2), "a")
        XCTAssertEqual(displayPrefix(text, columns: 3), "a東")
        XCTAssertEqual(displayPrefix(text, columns: 7), "a東京👨‍👩‍👧")
        XCTAssertEqual(displaySuffix(text, columns: 2), "b")
        XCTAssertEqual(displaySuffix(text, columns: 3), "👨‍👩‍👧b")
        XCTAssertEqual(displayWidth("\u{1B}x"), 2, "an undrawable character is one `?`")
    }

    /// Every row draws exactly `width` columns, whatever was written, blitted or clipped on top of what.
    func testRowsKeepTheirWidthUnderOverwritesAndClippedBlits() {
        var g = CellGrid(width: 9, height: 3)
        var other = CellGrid(width: 4, height: 1)
        other.put("東京", x: 0, y: 0)
        g.put("🇯🇵 flag ok", x: 0, y: 0)
        g.blit(other, x: -1, y: 1)  // the left half of 東 falls outside: its right half must not be drawn alone
        g.blit(other, x: 7, y: 1)   // 京 falls outside on the right: 東 stays, 京 is dropped
        g.put("x東y", x: 3, y: 2)
        g.put("z", x: 5, y: 2)      // over the right half of 東
        for (y, line) in g.lines.enumerated() { XCTAssertEqual(displayWidth(line), 9, "row \(y): \(line)") }
        XCTAssertEqual(g.lines, ["🇯🇵 flag o", " 京    東", "   x zy  "])
        var ascii = g
        ascii.restrictToASCII()
        XCTAssertEqual(ascii.lines, ["?? flag o", " ??    ??", "   x zy  "])
    }
}
