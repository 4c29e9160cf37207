import XCTest
@testable import Visualize

/// Snapshots of the remaining renderers, expected frames written out by hand from the inputs.
final class PlotSnapshotTests: XCTestCase {
    func testSpatialSpikeMapASCIIAndBlocks() {
        // 2x3 grid, counts up to 4: 0 -> blank, 1 -> ramp[1], 4 -> top of the ramp.
        let map = SpatialSpikeMap(counts: [0, 1, 4, 2, 0, 3], gridHeight: 2, gridWidth: 3, maximum: 4)
        // ASCII ramp " .:-=+*#%@" (10 levels): level = 1 + (c - 1) / 4 * 9 -> c=1: 1 '.', c=2: 3 '-', c=3: 5 '+', c=4: 7 '#'.
        XCTAssertEqual(map.render(width: 6, height: 2, glyphs: .ascii).lines, ["  ..##", "--  ++"])
        // Blocks " ░▒▓█" (5 levels): c=1: 1 '░', c=2: 1 + 0.25*4 = 2 '▒', c=3: 3 '▓', c=4: 4 '█'.
        XCTAssertEqual(map.render(width: 6, height: 2, glyphs: .braille).lines, ["  ░░██", "▒▒  ▓▓"])
        XCTAssertEqual(map.render(width: 6, height: 2, glyphs: .ascii).roleLines, ["ddssss", "ssddss"])
    }

    func testRateHeatmap() {
        let heat = RateHeatmap(labels: ["a", "bb"], rates: [[0, 0.5], [0.1, 1]], highlightRow: 1)
        // width 9: label column 9 - 2*3 - 1 = 2; blocks: 0.5 -> min(4, 1 + Int(0.5*4*2)) = 4; 0.1 -> 1 + Int(0.8) = 1.
        XCTAssertEqual(heat.render(width: 9, height: 2, glyphs: .braille).lines, ["a     ███", "bb ░░░███"])
        // ASCII has 10 levels: 0.1 -> 1 + Int(0.1 * 9 * 2) = 2 (':').
        XCTAssertEqual(heat.render(width: 9, height: 2, glyphs: .ascii).lines, ["a     @@@", "bb :::@@@"])
        XCTAssertEqual(heat.render(width: 9, height: 2, glyphs: .ascii).roleLines[1], "aa.ssssss")
    }

    func testRateHeatmapAxesMeanColumnAndLegend() {
        let heat = RateHeatmap(labels: ["a", "bb"], rates: [[0, 0.5], [0.1, 1]], highlightRow: 1)
        // width 26: 2 steps x 3 columns, 1 gap, 7 for the mean -> label column 12 (room for "layer \ step").
        let lines = heat.render(width: 26, height: 5, glyphs: .braille).lines
        XCTAssertEqual(lines[0], "layer \\ step  1  2    mean")
        XCTAssertEqual(lines[1], "a               ███  25.0%")
        XCTAssertEqual(lines[2], "bb           ░░░███  55.0%")
        XCTAssertEqual(lines[3], String(repeating: " ", count: 26))
        XCTAssertEqual(lines[4], "rate: ' ' 0, '░'..'█' in s")  // compact legend, cut to the width
        // The full legend: shade k >= 1 covers rates [(k-1)/8, k/8); the darkest means >= 3/8.
        XCTAssertEqual(RateHeatmap.legend(glyphs: .braille), "rate: ' ' 0 ░ <12.5% ▒ <25% ▓ <37.5% █ >=37.5%")
        XCTAssertEqual(RateHeatmap.legend(glyphs: .ascii, width: 60), "rate: ' ' 0, '.'..'@' in steps of 5.56%, '@' >=44.4%")
        // Highlighted row in the accent role, label and mean alike.
        XCTAssertEqual(heat.render(width: 26, height: 5, glyphs: .braille).roleLines[2], "aaaaaaaaaaaa.ssssssaaaaaaa")
    }

    func testRateHeatmapScrollsToKeepTheHighlightedLayerVisible() {
        let labels = (0..<10).map { "L\($0)" }
        let heat = RateHeatmap(labels: labels, rates: labels.map { _ in [0.2] }, highlightRow: 8)
        // 4 body rows between header and legend: rows 6...9 shown (8 is not at the edge, the list end is).
        let lines = heat.render(width: 24, height: 6, glyphs: .ascii).lines
        XCTAssertEqual(lines[1...4].map { String($0.prefix(2)) }, ["L6", "L7", "L8", "L9"])
        let top = RateHeatmap(labels: labels, rates: labels.map { _ in [0.2] }, highlightRow: 0).render(width: 24, height: 6, glyphs: .ascii).lines
        XCTAssertEqual(String(top[1].prefix(2)), "L0")
    }

    func testMembraneTraceDrawsThresholdAndSpikes() {
        let trace = MembraneTrace(values: [0.5, 1.0, 0.25, 0.75], threshold: 1, spikes: [false, true, false, false])
        let lines = trace.render(width: 15, height: 5).lines
        XCTAssertEqual(lines.count, 5)
        // Range [0, 1]: threshold on row 0 with its label; t=1 fired at the threshold row -> '*'.
        XCTAssertTrue(lines[0].hasPrefix("  1.00"), lines[0])
        XCTAssertTrue(lines[0].contains("*"), lines[0])
        XCTAssertTrue(lines[0].contains("-"), lines[0])
        XCTAssertEqual(lines.joined().filter { $0 == "o" }.count, 3)
        XCTAssertTrue(lines[4].hasPrefix("  0.00"), lines[4])
    }

    func testSparkline() {
        XCTAssertEqual(sparkline([0, 1, 2, 4], glyphs: .braille), "▁▃▅█")
        // 7 ASCII levels: 1/4 * 6 + 0.5 -> 2 ('-'), 2/4 * 6 + 0.5 -> 3 ('='), 4/4 -> 6 ('#').
        XCTAssertEqual(sparkline([0, 1, 2, 4], glyphs: .ascii), "_-=#")
        XCTAssertEqual(sparkline([0, 0], glyphs: .ascii), "__")
    }

    func testThumbnailHalfBlocksAndASCII() {
        // 2x2 image: black, white / white, black. Half blocks average two pixel rows per cell.
        let t = Thumbnail(pixels: [0, 1, 1, 0], imageHeight: 2, imageWidth: 2)
        XCTAssertEqual(t.render(width: 2, height: 2, glyphs: .ascii).lines, [" @", "@ "])
        XCTAssertEqual(t.render(width: 2, height: 1, glyphs: .halfBlocks).lines, ["▒▒"])
        XCTAssertEqual(t.render(width: 2, height: 2, glyphs: .braille).lines, [" █", "█ "])
    }

    func testBoxAndTerminalSafeKeepBordersAligned() {
        var g = CellGrid(width: 8, height: 3)
        g.box(x: 0, y: 0, width: 8, height: 3, title: "T", role: .accent, ascii: true)
        g.put(terminalSafe("猫🙂\u{1B}x"), x: 1, y: 1)
        XCTAssertEqual(g.lines, ["+ T ---+", "|猫🙂?x|", "+------+"])
        // A wide character that does not fit before the edge is left out, never cut in half.
        var edge = CellGrid(width: 5, height: 1)
        edge.put("ab猫🙂", x: 0, y: 0)
        XCTAssertEqual(edge.lines, ["ab猫 "])
        // Overwriting either half of a pair blanks the other half; every row keeps its width.
        edge.put("x", x: 3, y: 0)
        XCTAssertEqual(edge.lines, ["ab x "])
        edge.put("猫", x: 2, y: 0)
        edge.put("y", x: 2, y: 0)
        XCTAssertEqual(edge.lines, ["aby  "])
    }
}
