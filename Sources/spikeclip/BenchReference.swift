import Foundation
import SpikeCLIP
import Visualize

/// The same measurements on the PyTorch reference (`training/spikeclip_training/bench.py`), when it can run: Python from
/// `$SPIKECLIP_PYTHON`, else the test venv (`~/.cache/spikeclip/venv`), else `python3`, with `PYTHONPATH=training`.
func benchPyTorchReference(checkpoint: String, iterations: Int, clip: String? = nil) {
    let env = ProcessInfo.processInfo.environment
    let venv = (env["HOME"] ?? "/root") + "/.cache/spikeclip/venv/bin/python"
    let python = env["SPIKECLIP_PYTHON"] ?? (FileManager.default.isExecutableFile(atPath: venv) ? venv : "/usr/bin/env")
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = (python == "/usr/bin/env" ? ["python3"] : []) + ["-m", "spikeclip_training.bench", checkpoint, "--iterations", String(iterations)]
        + (clip.map { ["--clip", $0] } ?? [])
    var environment = env
    environment["PYTHONPATH"] = "training" + (env["PYTHONPATH"].map { ":" + $0 } ?? "")
    // transformers' loading progress bars would land in our output (escaped, one line each).
    environment["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    environment["TQDM_DISABLE"] = "1"
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
