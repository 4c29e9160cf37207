import Foundation
import SpikeCLIP
import Visualize

/// The same measurements on the PyTorch reference (`training/spikeclip_training/bench.py`), when it can run.
func benchPyTorchReference(checkpoint: String, iterations: Int, clip: String? = nil) {
    let args = ["-m", "spikeclip_training.bench", checkpoint, "--iterations", String(iterations)] + (clip.map { ["--clip", $0] } ?? [])
    switch runPyTorchReference(args) {
    case let .success(data):
        let text = String(decoding: data, as: UTF8.self)
        text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0).forEach { say(String($0)) }
    case let .failure(reason):
        say("PyTorch reference: not run (\(reason)); install it with pip install -r training/requirements-test.txt")
    }
}

/// Runs the PyTorch reference module with `arguments` (Python from `$SPIKECLIP_PYTHON`, else the test venv
/// `~/.cache/spikeclip/venv`, else `python3`, with `PYTHONPATH=training`). Returns its stdout, or the last line of its
/// stderr (else stdout) as the reason it failed.
func runPyTorchReference(_ arguments: [String]) -> Result<Data, PyTorchFailure> {
    let env = ProcessInfo.processInfo.environment
    let venv = (env["HOME"] ?? "/root") + "/.cache/spikeclip/venv/bin/python"
    let python = env["SPIKECLIP_PYTHON"] ?? (FileManager.default.isExecutableFile(atPath: venv) ? venv : "/usr/bin/env")
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = (python == "/usr/bin/env" ? ["python3"] : []) + arguments
    var environment = env
    environment["PYTHONPATH"] = "training" + (env["PYTHONPATH"].map { ":" + $0 } ?? "")
    // transformers' loading progress bars would land in our output (escaped, one line each).
    environment["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    environment["TQDM_DISABLE"] = "1"
    p.environment = environment
    // stderr goes to a file: a pipe nobody reads while stdout is drained could fill and block the child.
    let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("spikeclip-torch-\(getpid()).err")
    guard FileManager.default.createFile(atPath: errURL.path, contents: nil), let errFile = try? FileHandle(forWritingTo: errURL) else {
        return .failure(PyTorchFailure(reason: "cannot create \(errURL.path)"))
    }
    defer { try? errFile.close(); try? FileManager.default.removeItem(at: errURL) }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = errFile
    do {
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus == 0 { return .success(data) }
        let err = String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self)
        let text = err.isEmpty ? String(decoding: data, as: UTF8.self) : err
        return .failure(PyTorchFailure(reason: text.split(separator: "\n").last.map(String.init) ?? "exit \(p.terminationStatus)"))
    } catch {
        return .failure(PyTorchFailure(reason: "\(error)"))
    }
}

/// Why the PyTorch reference did not run (its last line of output).
struct PyTorchFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
