import Foundation
import SpikeCLIP
import TUI
import Visualize

/// Keypress-to-frame latency of the explorer at `width` x `height`: handling a key and rendering the whole frame
/// (what the input thread does before drawing), and keypress-to-updated-analysis for keys that recompute.
func benchExplorer(checkpoint: String, assets: String, iterations: Int, width: Int = 120, height: Int = 40) throws {
    let explorer = try ExplorerSession.make(checkpoint: checkpoint, assets: assets, glyphs: .braille)
    explorer.settle()
    let keys: [Key] = [.char("3"), .char("]"), .char("."), .char("v"), .char("o"), .char("4"), .char("c"), .char("5"), .char("u"), .tab]
    var frameMS: [Double] = []
    for i in 0..<(iterations * keys.count) {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = explorer.handle(keys[i % keys.count])
        _ = explorer.frame(width: width, height: height)
        frameMS.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    var analysisMS: [Double] = []
    explorer.focus(.image)
    for i in 0..<iterations {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = explorer.handle(.char(i % 2 == 0 ? "n" : "p"))  // new image -> new analysis
        explorer.settle()
        _ = explorer.frame(width: width, height: height)
        analysisMS.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    func p(_ xs: [Double], _ q: Double) -> Double {
        let s = xs.sorted()
        return s[min(s.count - 1, max(0, Int((Double(s.count) * q).rounded(.up)) - 1))]
    }
    func line(_ label: String, _ xs: [Double]) -> String {
        label.padding(toLength: 48, withPad: " ", startingAt: 0) + String(format: " p50 %8.3f ms   p95 %8.3f ms", p(xs, 0.5), p(xs, 0.95))
    }
    print(line("explorer keypress -> frame (\(width)x\(height))", frameMS))
    print(line("explorer new image -> updated frame", analysisMS))
}
