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
    // Fashion-MNIST by index (n/p): the test set is read once, then each key is one record plus its analysis.
    var fashionMS: [Double] = []
    _ = explorer.handle(.char("s"))  // demo -> Fashion-MNIST
    explorer.settle()
    let fashion = explorer.image?.title.hasPrefix("Fashion-MNIST") == true
    for i in 0..<(fashion ? iterations : 0) {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = explorer.handle(.char(i % 3 == 2 ? "p" : "n"))
        explorer.settle()
        _ = explorer.frame(width: width, height: height)
        fashionMS.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    _ = explorer.handle(.char("s")); _ = explorer.handle(.char("s"))  // back to the demo images
    explorer.settle()
    // Adding a class prompt (new text, so its M prompts miss the ANN text cache), then deleting it again.
    var promptMS: [Double] = []
    explorer.focus(.prompts)
    for i in 0..<iterations {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = explorer.handle(.char("a"))
        for c in "wool scarf \(i)" { _ = explorer.handle(.char(c)) }
        _ = explorer.handle(.enter)
        explorer.settle()
        _ = explorer.frame(width: width, height: height)
        promptMS.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        _ = explorer.handle(.char("d"))
        explorer.settle()
    }
    func p(_ xs: [Double], _ q: Double) -> Double {
        let s = xs.sorted()
        return s[min(s.count - 1, max(0, Int((Double(s.count) * q).rounded(.up)) - 1))]
    }
    func line(_ label: String, _ xs: [Double]) -> String {
        label.padding(toLength: 48, withPad: " ", startingAt: 0) + String(format: " p50 %8.3f ms   p95 %8.3f ms", p(xs, 0.5), p(xs, 0.95))
    }
    say(line("explorer keypress -> frame (\(width)x\(height))", frameMS))
    say(line("explorer new image -> updated frame", analysisMS))
    if fashion {
        say(line("explorer Fashion-MNIST n/p -> updated frame", fashionMS))
    } else {
        say("explorer Fashion-MNIST n/p -> updated frame: not run (apt-get install dataset-fashion-mnist)")
    }
    say(line("explorer add a class prompt -> updated frame", promptMS))
}

/// The same measurements on the PyTorch reference (`training/spikeclip_training/bench.py`), when it can run: Python from
/// `$SPIKECLIP_PYTHON`, else the test venv (`~/.cache/spikeclip/venv`), else `python3`, with `PYTHONPATH=training`.
func benchPyTorchReference(checkpoint: String, iterations: Int) {
    let env = ProcessInfo.processInfo.environment
    let venv = (env["HOME"] ?? "/root") + "/.cache/spikeclip/venv/bin/python"
    let python = env["SPIKECLIP_PYTHON"] ?? (FileManager.default.isExecutableFile(atPath: venv) ? venv : "/usr/bin/env")
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = (python == "/usr/bin/env" ? ["python3"] : []) + ["-m", "spikeclip_training.bench", checkpoint, "--iterations", String(iterations)]
    var environment = env
    environment["PYTHONPATH"] = "training" + (env["PYTHONPATH"].map { ":" + $0 } ?? "")
    p.environment = environment
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    do {
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        if p.terminationStatus == 0 {
            text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0).forEach { say(String($0)) }
        } else {
            let reason = text.split(separator: "\n").last.map(String.init) ?? "exit \(p.terminationStatus)"
            say("PyTorch reference: not run (\(reason)); install it with pip install -r training/requirements-test.txt")
        }
    } catch {
        say("PyTorch reference: not run (\(error)); install it with pip install -r training/requirements-test.txt")
    }
}
