import XCTest
@testable import Visualize

/// Snapshots of the renderers in each glyph set. Expected frames are written out by hand from the input below:
/// T = 2, n = 4; neuron 0 fires at t0, neuron 1 at t1, neuron 2 at both, neuron 3 never.
final class RendererSnapshotTests: XCTestCase {
    let raster = SpikeRaster(spikes: [1, 0, 1, 0, 0, 1, 1, 0], steps: 2, neurons: 4)

    func testRasterASCII() {
        let grid = raster.render(width: 9, height: 4, glyphs: .ascii)
        XCTAssertEqual(grid.lines, [
            "||..  50%",
            "..||  50%",
            "|||| 100%",
            "....   0%",
        ])
        XCTAssertEqual(grid.roleLines[0], "ssddaaaaa")
        XCTAssertEqual(grid.roleLines[3], "ddddaaaaa")
    }

    func testRasterBraille() {
        // Cell 0 = t0 (dot columns 0-1): neurons 0 and 2 -> dots 1,4,3,6 = U+282D; cell 1 = t1: neurons 1, 2 -> U+2836.
        XCTAssertEqual(raster.render(width: 7, height: 1, glyphs: .braille).lines, ["\u{282D}\u{2836}  50%"])
    }

    func testRasterHalfBlocks() {
        XCTAssertEqual(raster.render(width: 9, height: 2, glyphs: .halfBlocks).lines, [
            "▀▀▄▄  50%",
            "▀▀▀▀  50%",
        ])
    }

    func testRasterScrollsAndClipsPastLastNeuron() {
        let scrolled = SpikeRaster(spikes: raster.spikes, steps: 2, neurons: 4, firstNeuron: 2)
        XCTAssertEqual(scrolled.render(width: 9, height: 3, glyphs: .ascii).lines, [
            "|||| 100%",
            "....   0%",
            "         ",
        ])
    }

    func testScoreBars() {
        let bars = ScoreBars(labels: ["cat", "dog"], fractions: [0.5, 0.25], values: ["0.50", "0.25"], highlight: 0)
        XCTAssertEqual(bars.render(width: 20, glyphs: .ascii).lines, [
            "cat ######      0.50",
            "dog ###         0.25",
        ])
        // 11 cells x 8 eighths x 0.25 = 22 eighths = 2 full blocks + a 6/8 block.
        XCTAssertEqual(bars.render(width: 20, glyphs: .braille).lines[1], "dog ██▊         0.25")
        XCTAssertEqual(bars.render(width: 20, glyphs: .ascii).roleLines[0], "aaa.sssssssssss.aaaa")
    }
}
