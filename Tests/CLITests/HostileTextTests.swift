import Foundation
import XCTest
import SpikeCLIP

/// Text from arguments and files never reaches the terminal raw in human-readable output (issue 11), and the
/// checkpoint's companion files are checked the same way by the CLI and the explorer (`snapshot` runs the
/// explorer's code path): the ANN text model's sha256, the tokenizer kind.
extension CLITests {
    /// An OSC window title, BEL, clear screen, a C1 CSI, a bidi override, carriage return and tab.
    static let hostile = "A\u{1B}]0;pwned\u{07}B\u{1B}[2J\u{9B}31m\u{202E}C\rD\tE"
    static let trained = root.appendingPathComponent("assets/checkpoints/default.safetensors").path

    /// No scalar that ``terminalText(_:)`` escapes is in the output (newlines between lines aside), and the hostile
    /// text was printed, escaped.
    func assertEscaped(_ r: Run, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let all = r.stdout + r.stderr
        let raw = all.unicodeScalars.filter { $0 != "\n" && isHiddenFromTerminal($0) }
        XCTAssertTrue(raw.isEmpty, "\(what): raw \(raw.map { String($0.value, radix: 16) }) in: \(all.prefix(600))", file: file, line: line)
        XCTAssertTrue(all.contains("\\u{1b}]0;pwned\\u{7}B\\u{1b}[2J\\u{9b}31m\\u{202e}C\\u{d}D\\u{9}E"),
                      "\(what): the escaped text is missing: \(all.prefix(600))", file: file, line: line)
    }

    func testPromptsFromArgumentsAreEscapedInEveryCommand() throws {
        let dir = try temporaryDirectory()
        let h = Self.hostile
        let runs: [(String, [String])] = [
            ("classify --prompt", ["classify", "--checkpoint", Self.trained, "--image", Self.images[0], "--prompt", "coat " + h, "sandal"]),
            ("tokenize --text", ["tokenize", "--checkpoint", Self.trained, "--text", h]),
            ("token-id error", ["classify", "--checkpoint", Self.fixture, "--image", Self.images[0], "--prompt", h]),
            ("raster --prompt", ["raster", "--checkpoint", Self.trained, "--prompt", h, "--layer", "text.mlp_lif2", "--out", dir + "/r.txt", "--glyphs", "ascii"]),
            ("snapshot --prompt", ["snapshot", "--checkpoint", Self.fixture, "--size", "80x24", "--prompt", h]),
        ]
        for (what, args) in runs {
            let r = try run(args)
            XCTAssertTrue(r.status == 0 || r.status == 1, "\(what): exit \(r.status) \(r.stderr)")
            if what == "raster --prompt" {
                XCTAssertEqual(r.status, 0, r.stderr)
                let text = String(decoding: try XCTUnwrap(FileManager.default.contents(atPath: dir + "/r.txt")), as: UTF8.self)
                assertEscaped(Run(status: 0, stdout: text, stderr: ""), "raster text file")
            } else if what == "snapshot --prompt" {
                // The explorer's own rule: `?` for each control, nothing raw.
                XCTAssertFalse(r.stdout.unicodeScalars.contains { $0 != "\n" && isHiddenFromTerminal($0) }, r.stdout)
                XCTAssertTrue(r.stdout.contains("A?]0;pwned?B?[2J?31m?C?D?E"), r.stdout)
            } else {
                assertEscaped(r, what)
            }
        }
    }

    func testClassAndTemplateFilesAreEscaped() throws {
        let dir = try temporaryDirectory()
        let classes = dir + "/classes.txt", templates = dir + "/templates.txt"
        let names = ["t-shirt", "trouser " + Self.hostile, "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
        try names.joined(separator: "\n").write(toFile: classes, atomically: true, encoding: .utf8)
        try ["a photo of a {}.", Self.hostile + " {}"].joined(separator: "\n").write(toFile: templates, atomically: true, encoding: .utf8)
        let eval = try run(["eval", "--checkpoint", Self.trained, "--limit", "3", "--classes-file", classes, "--templates-file", templates])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let raw = (eval.stdout + eval.stderr).unicodeScalars.filter { $0 != "\n" && isHiddenFromTerminal($0) }
        XCTAssertTrue(raw.isEmpty, "eval: raw \(raw.map(\.value)) in \(eval.stdout)")
        XCTAssertTrue(eval.stdout.contains("trouser A\\u{1b}"), "the confusion matrix names the class, escaped: \(eval.stdout)")
        let classify = try run(["classify", "--checkpoint", Self.trained, "--image", Self.images[0], "--template", Self.hostile + " {}",
                                "--prompt", "coat", "--prompt", "bag"])
        XCTAssertEqual(classify.status, 0, classify.stderr)
        XCTAssertFalse((classify.stdout + classify.stderr).unicodeScalars.contains { $0 != "\n" && isHiddenFromTerminal($0) })
    }

    func testCheckpointStringsAreEscaped() throws {
        let dir = try temporaryDirectory()
        let hostileDefault = dir + "/hostile.safetensors"
        try rewriteConfig(of: Self.trained, to: hostileDefault) { c in
            var classes = c["classes"] as! [String]
            classes[1] = "trouser " + Self.hostile
            c["classes"] = classes
            c["templates"] = ["a photo of a {}.", Self.hostile + " {}"]
            c["provenance"] = ["note": Self.hostile]
        }
        let assets = Self.root.appendingPathComponent("assets").path
        for (what, args) in [("inspect", ["inspect", hostileDefault]),
                             ("classify", ["classify", "--checkpoint", hostileDefault, "--assets", assets, "--image", Self.images[1]])] {
            let r = try run(args)
            XCTAssertEqual(r.status, 0, "\(what): \(r.stderr)")
            assertEscaped(r, what)
        }
        // Strings that end in an error: tokenizer kind, ANN text file name, a tensor name.
        let badKind = dir + "/kind.safetensors", badFile = dir + "/file.safetensors"
        try rewriteConfig(of: Self.fixture, to: badKind) { c in
            var t = c["tokenizer"] as! [String: Any]
            t["kind"] = Self.hostile
            c["tokenizer"] = t
        }
        try rewriteConfig(of: Self.trained, to: badFile) { c in c["ann_text"] = ["file": Self.hostile, "sha256": String(repeating: "0", count: 64)] }
        let badKey = dir + "/key.safetensors"
        try addTensor(to: Self.fixture, writing: badKey, key: "vision." + Self.hostile)
        for (what, args) in [("kind", ["classify", "--checkpoint", badKind, "--image", Self.images[0]]),
                             ("kind (explorer)", ["snapshot", "--checkpoint", badKind]),
                             ("ann_text.file", ["classify", "--checkpoint", badFile, "--assets", assets, "--image", Self.images[0]]),
                             ("tensor name", ["inspect", badKey])] {
            let r = try run(args)
            XCTAssertEqual(r.status, 1, "\(what): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(what): one line: \(r.stderr)")
            XCTAssertFalse(r.stderr.unicodeScalars.contains { $0 != "\n" && isHiddenFromTerminal($0) }, "\(what): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("\\u{1b}]0;pwned"), "\(what): \(r.stderr)")
        }
    }

    func testPathsAreEscaped() throws {
        let dir = try temporaryDirectory()
        let image = dir + "/img" + Self.hostile.replacingOccurrences(of: "/", with: "") + ".png"
        try FileManager.default.copyItem(atPath: Self.images[0], toPath: image)
        try (0..<10).map { "1 \($0 + 10) 2" }.joined(separator: "\n").write(toFile: dir + "/c.txt", atomically: true, encoding: .utf8)
        for (what, args) in [("classify", ["classify", "--checkpoint", Self.fixture, "--image", image]),
                             ("energy", ["energy", "--checkpoint", Self.fixture, "--image", image]),
                             ("raster --out", ["raster", "--checkpoint", Self.fixture, "--image", image, "--layer", "vision.block.0.attn.q_lif",
                                               "--out", dir + "/out" + Self.hostile + ".txt"]),
                             ("missing image", ["classify", "--checkpoint", Self.fixture, "--image", dir + "/no" + Self.hostile + ".png"]),
                             ("missing data dir", ["eval", "--checkpoint", Self.fixture, "--data-dir", dir + "/" + Self.hostile, "--classes-file", dir + "/c.txt"])] {
            let r = try run(args)
            assertEscaped(r, what)
        }
    }

    /// `ann_text.sha256` is checked when the ANN text model is loaded, by the CLI and the explorer alike; only
    /// `--ignore-ann-text-hash` loads a mismatching file.
    func testANNTextHashMismatchIsAnErrorUnlessIgnored() throws {
        let dir = try temporaryDirectory()
        let mismatched = dir + "/mismatch.safetensors"
        let wrong = String(repeating: "0", count: 64)
        try rewriteConfig(of: Self.trained, to: mismatched) { c in
            var ann = c["ann_text"] as! [String: Any]
            ann["sha256"] = wrong
            c["ann_text"] = ann
        }
        let assets = Self.root.appendingPathComponent("assets").path
        let actual = try sha256Hex(path: assets + "/minilm/model.f16.safetensors")
        XCTAssertEqual(actual.count, 64)
        for command in [["classify", "--image", Self.images[0]], ["eval", "--limit", "2"], ["snapshot", "--size", "80x24"]] {
            let base = command + ["--checkpoint", mismatched, "--assets", assets]
            let refused = try run(base)
            XCTAssertEqual(refused.status, 1, "\(command[0]): \(refused.stderr)")
            XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
            XCTAssertTrue(refused.stderr.contains(actual) && refused.stderr.contains(wrong) && refused.stderr.contains("--ignore-ann-text-hash"),
                          "\(command[0]): names both hashes and the flag: \(refused.stderr)")
            let allowed = try run(base + ["--ignore-ann-text-hash"])
            XCTAssertEqual(allowed.status, 0, "\(command[0]) --ignore-ann-text-hash: \(allowed.stderr)")
        }
        // The hash is of the file: the untouched checkpoint loads.
        XCTAssertEqual(try run(["classify", "--checkpoint", Self.trained, "--image", Self.images[0]]).status, 0)
    }

    /// Regression: the explorer treated an unknown tokenizer kind as token ids while the CLI refused it.
    func testUnknownTokenizerKindIsTheSameErrorInCLIAndExplorer() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/kind.safetensors"
        try rewriteConfig(of: Self.fixture, to: path) { c in
            var t = c["tokenizer"] as! [String: Any]
            t["kind"] = "sentencepiece"
            c["tokenizer"] = t
        }
        let expected = "error: \(path): tokenizer kind 'sentencepiece' is not supported (\(ModelFamilies.all.map(\.kind).joined(separator: " or ")))"
        for args in [["classify", "--image", Self.images[0], "--checkpoint", path], ["tokenize", "--text", "1 2", "--checkpoint", path],
                     ["snapshot", "--size", "80x24", "--checkpoint", path], ["inspect", path]] {
            let r = try run(args)
            XCTAssertEqual(r.status, 1, "\(args[0]): \(r.stdout)")
            XCTAssertEqual(r.stderr, expected + "\n", args[0])
        }
    }

    /// The config's `ann_text.sha256` is named as the file spells it when missing, and must be 64 hex digits.
    func testANNTextHashFieldIsCheckedAndNamedAsInTheFile() throws {
        let dir = try temporaryDirectory()
        let missing = dir + "/missing.safetensors", malformed = dir + "/malformed.safetensors"
        try rewriteConfig(of: Self.trained, to: missing) { c in c["ann_text"] = ["file": "minilm/model.f16.safetensors"] }
        try rewriteConfig(of: Self.trained, to: malformed) { c in c["ann_text"] = ["file": "minilm/model.f16.safetensors", "sha256": "xyz"] }
        for (path, expected) in [(missing, "invalid config: missing 'ann_text.sha256'"),
                                 (malformed, "invalid config: ann_text.sha256 'xyz' is not 64 hex digits")] {
            let r = try run(["classify", "--checkpoint", path, "--image", Self.images[0]])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(expected), r.stderr)
        }
    }

    /// Regression: `snapshot --size abc` and `--focus nope` exited 1 (the latter after loading the checkpoint).
    func testSnapshotUsageErrorsExitTwoBeforeLoading() throws {
        for (args, expected) in [(["--size", "abc"], "is not WIDTHxHEIGHT"), (["--size", "100000x100000"], "must be 1-1000"),
                                 (["--focus", "nope"], "is not one of: prompts, image, spikes")] {
            let r = try run(["snapshot", "--checkpoint", "/nonexistent/never-read.safetensors"] + args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(expected), r.stderr)
        }
    }

    /// Copies a safetensors file with one more 1-element F32 tensor named `key` (to test hostile tensor names).
    func addTensor(to source: String, writing destination: String, key: String) throws {
        let bytes = [UInt8](try XCTUnwrap(FileManager.default.contents(atPath: source)))
        let n = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        var header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        let end = bytes.count - 8 - n
        header[key] = ["dtype": "F32", "shape": [1], "data_offsets": [end, end + 4]]
        var json = [UInt8](try JSONSerialization.data(withJSONObject: header))
        while json.count % 8 != 0 { json.append(0x20) }
        let length = (0..<8).map { UInt8(truncatingIfNeeded: json.count >> (8 * $0)) }
        try Data(length + json + bytes[(8 + n)...] + [0, 0, 0, 0]).write(to: URL(fileURLWithPath: destination))
    }
}
