import Foundation
import XCTest
import SpikeCLIP

/// Runs the built `spikeclip` binary and checks its `--json` output against direct engine calls, and its errors and
/// exit codes (0 ok, 1 runtime error, 2 usage).
final class CLITests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixture = root.appendingPathComponent("Tests/Fixtures/tiny-default/model.safetensors").path
    static let golden = root.appendingPathComponent("Tests/Fixtures/tiny-default/golden.safetensors").path
    static let images = ["bag_0018.png", "coat_0006.png", "trouser_0002.png"].map { root.appendingPathComponent("assets/images/\($0)").path }

    /// The products directory holding the test bundle, which also holds the `spikeclip` executable.
    static var binary: String {
        var dir = Bundle.main.bundleURL
        if dir.pathExtension == "xctest" { dir.deleteLastPathComponent() }
        for bundle in Bundle.allBundles where bundle.bundleURL.pathExtension == "xctest" {
            dir = bundle.bundleURL.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("spikeclip").path
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:] }
    }

    /// Runs the binary; output goes through temporary files so that a hung run can be stopped after `timeout` seconds
    /// (it then fails the test instead of blocking the suite).
    func run(_ arguments: [String], in directory: URL = CLITests.root, environment: [String: String] = [:],
             timeout: TimeInterval = 600) throws -> Run {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary), "no spikeclip binary at \(Self.binary); build with swift build --build-tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spikeclip-run-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outURL = dir.appendingPathComponent("stdout"), errURL = dir.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = arguments
        p.currentDirectoryURL = directory
        p.standardInput = FileHandle.nullDevice
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        p.standardOutput = try FileHandle(forWritingTo: outURL)
        p.standardError = try FileHandle(forWritingTo: errURL)
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            p.terminate()
            p.waitUntilExit()
            XCTFail("spikeclip \(arguments.joined(separator: " ")) still running after \(Int(timeout)) s: stopped")
        }
        p.waitUntilExit()
        let o = (try? Data(contentsOf: outURL)) ?? Data()
        let e = (try? Data(contentsOf: errURL)) ?? Data()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Regression (2026-12-07): Debian's OpenBLAS 0.3.21 ran its generic SSE3 kernels ("Prescott") on an AVX-512 Xeon
    /// it did not know, at a third of the SGEMM rate; the CLI now restarts itself with `OPENBLAS_CORETYPE` set.
    func testOpenBLASRunsKernelsThisCPUCanUse() throws {
        let r = try run(["--version"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let words = r.stdout.split(whereSeparator: { $0 == " " || $0 == "(" || $0 == ")" || $0 == "," }).map(String.init)
        let at = try XCTUnwrap(words.firstIndex(of: "OpenBLAS"), r.stdout)
        XCTAssertGreaterThan(words.count, at + 2, r.stdout)
        let core = words[at + 2]
        if let chosen = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] {
            XCTAssertTrue(r.stdout.contains("OPENBLAS_CORETYPE=\(chosen)"), "a user's own core type is kept: \(r.stdout)")
        } else if BLASCore.cpuCoreType != nil {
            XCTAssertFalse(BLASCore.genericCores.contains(core.lowercased()),
                           "OpenBLAS runs generic kernels (\(core)) on a CPU with \(BLASCore.cpuCoreType!): \(r.stdout)")
        }
    }

    func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spikeclip-cli-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.path
    }

    // MARK: engine references

    var model: SpikeCLIPModel { get throws { try SpikeCLIPModel(path: Self.fixture) } }

    /// The golden file's prompt rows (the fixture's default classes, one template each).
    func goldenPrompts() throws -> [[Int]] {
        let f = try SafeTensorsFile(path: Self.golden)
        let shape = try f.info("input.token_ids").shape
        let ids = try f.ints("input.token_ids")
        let m = Int(f.metadata["num_templates"] ?? "1") ?? 1
        return stride(from: 0, to: shape[0], by: m).map { Array(ids[($0 * shape[1])..<(($0 + 1) * shape[1])]) }
    }

    func pixels(_ path: String, _ model: SpikeCLIPModel) throws -> [Float] {
        try ImagePreprocessor(config: model.config.preprocess)(ImageDecoder.decode(path: path))
    }

    /// `--kernels reference|blas|event` on a scripted command and on the explorer's snapshot: the same scores (sums
    /// in other orders: 1e-5), and an unknown kernel name is a usage error naming the choices.
    func testKernelsOptionGivesTheSameScores() throws {
        var cosines: [[Double]] = []
        for k in ["reference", "blas", "event"] {
            let r = try run(["classify", "--image", Self.images[0], "--prompt", "sneaker", "--prompt", "bag", "--kernels", k, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let image = try XCTUnwrap((r.json["images"] as? [[String: Any]])?.first)
            cosines.append(try XCTUnwrap((image["snn"] as? [String: Any])?["cosines"] as? [Double]))
        }
        for c in cosines.dropFirst() { for (a, b) in zip(c, cosines[0]) { XCTAssertEqual(a, b, accuracy: 1e-5) } }
        let snap = try run(["snapshot", "--size", "80x24", "--kernels", "blas"])
        XCTAssertEqual(snap.status, 0, snap.stderr)
        let bad = try run(["classify", "--image", Self.images[0], "--kernels", "fast"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("'reference', 'blas' or 'event'"), bad.stderr)
    }

    /// `bench --checkpoint` on any checkpoint (no golden file): every line timed, dense-equivalent rates against the
    /// SGEMM rate of the same run, the PyTorch columns where the reference ran; `bench --crossover` measures both kinds.
    func testBenchOnAnyCheckpointAndCrossover() throws {
        let checkpoint = Self.root.appendingPathComponent("Tests/Fixtures/tiny-official/model.safetensors").path
        let r = try run(["bench", "--checkpoint", checkpoint, "--iterations", "2", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = r.json
        XCTAssertGreaterThan(try XCTUnwrap(report["sgemm_gflops"] as? Double), 0)
        XCTAssertGreaterThan(try XCTUnwrap(report["spiking_dense_macs"] as? Double), 0)
        // The floor of our kernels: positive, and never above the whole encoder run densely at the SGEMM rate.
        XCTAssertGreaterThan(try XCTUnwrap(report["accumulates_per_image"] as? Double), 0)
        XCTAssertGreaterThan(try XCTUnwrap(report["accumulate_rate"] as? Double), 0)
        let floor = try XCTUnwrap(report["kernel_floor_ms"] as? Double)
        XCTAssertGreaterThan(floor, 0)
        XCTAssertLessThanOrEqual(floor, 2 * (report["spiking_dense_macs"] as! Double) / (report["sgemm_gflops"] as! Double) / 1e6)
        let lines = try XCTUnwrap(report["lines"] as? [[String: Any]])
        let labels = lines.compactMap { $0["label"] as? String }
        for expected in ["spiking image encoder, batch 1 (event)", "spiking image encoder, batch 1 (blas)", "ANN twin image encoder, batch 1"] {
            XCTAssertTrue(labels.contains(expected), "\(expected) missing from \(labels)")
        }
        XCTAssertTrue(labels.contains { $0.hasPrefix("eval throughput") && $0.hasSuffix("(event)") })
        let torchRan = report["torch"] is String
        for line in lines {
            XCTAssertGreaterThan(try XCTUnwrap(line["p50"] as? Double), 0)
            // a dense-equivalent rate is compared with the SGEMM rate measured beside it
            if let g = line["dense_gflops"] as? Double {
                let beside = try XCTUnwrap(line["sgemm_gflops"] as? Double, "\(line)")
                XCTAssertGreaterThan(beside, 0)
                XCTAssertEqual(try XCTUnwrap(line["sgemm_fraction"] as? Double), g / beside, accuracy: 1e-9)
            }
            if torchRan, (line["label"] as! String).hasPrefix("spiking image") { XCTAssertNotNil(line["ratio"] as? Double, "\(line)") }
            if !torchRan { XCTAssertNil(line["ratio"] as? Double) }
        }
        let c = try run(["bench", "--crossover", "--iterations", "1", "--json"])
        XCTAssertEqual(c.status, 0, c.stderr)
        let samples = try XCTUnwrap(c.json["samples"] as? [[String: Any]])
        XCTAssertEqual(Set(samples.compactMap { $0["kind"] as? String }), ["pointwise", "conv3x3", "conv3x3 narrow"])
        let measured = try XCTUnwrap(c.json["measured"] as? [String: Double])
        for kind in ["pointwise", "conv3x3", "conv3x3_narrow"] {
            XCTAssertTrue((0...1).contains(try XCTUnwrap(measured[kind])), "\(measured)")
        }
        let inUse = EventKernels.Crossover.measured
        XCTAssertEqual(c.json["in_use"] as? [String: Double], ["pointwise": inUse.pointwise, "conv3x3": inUse.conv3x3,
                                                              "conv3x3_narrow": inUse.conv3x3Narrow])
        let bad = try run(["bench", "--json"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--json needs --checkpoint or --crossover"), bad.stderr)
    }

    func classifier(_ model: SpikeCLIPModel, prompts: [[Int]]) throws -> ZeroShotClassifier {
        let (flat, _) = try model.text.forward(tokenIds: prompts, mode: .event)
        let d = model.config.text.targetDim
        let rows = (0..<prompts.count).map { Array(flat[($0 * d)..<(($0 + 1) * d)]) }
        return ZeroShotClassifier(textEmbeddings: rows, templatesPerClass: 1, logitScale: Float(model.config.logitScale))
    }

    func floats(_ any: Any?) -> [Float] { (any as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.floatValue } }
    func double(_ any: Any?) -> Double { (any as? NSNumber)?.doubleValue ?? .nan }

    func assertClose(_ a: [Float], _ b: [Float], tolerance: Float = 1e-5, _ message: String, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, message, line: line)
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: tolerance, message, line: line) }
    }

    // MARK: subcommands

    func testClassifyJSONMatchesEngine() throws {
        let r = try run(["classify", "--json", "--checkpoint", Self.fixture, "--image"] + Self.images)
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = r.json
        let model = try self.model
        let prompts = try goldenPrompts()
        XCTAssertEqual(json["classes"] as? [String], prompts.map { $0.map(String.init).joined(separator: " ") })
        XCTAssertEqual(json["ann_text_encoder"] as? String, "spiking")
        let snnClassifier = try classifier(model, prompts: prompts)
        let images = try XCTUnwrap(json["images"] as? [[String: Any]])
        XCTAssertEqual(images.count, Self.images.count)
        let annEnergy = EnergyAccounting.annVision(config: model.config)!
        for (i, path) in Self.images.enumerated() {
            let x = try pixels(path, model)
            let v = try model.vision.forward(pixels: x, batch: 1, mode: .event)
            let snn = snnClassifier.score(imageEmbedding: v.embedding)
            let ann = snnClassifier.score(imageEmbedding: try model.annVision!.forward(pixels: x, batch: 1))
            let item = images[i]
            XCTAssertEqual(item["path"] as? String, path)
            let s = try XCTUnwrap(item["snn"] as? [String: Any]), a = try XCTUnwrap(item["ann"] as? [String: Any])
            assertClose(floats(s["cosines"]), snn.cosines, "SNN cosines of \(path)")
            assertClose(floats(s["probabilities"]), snn.probabilities, "SNN probabilities of \(path)")
            XCTAssertEqual(s["top1"] as? Int, snn.top1)
            assertClose(floats(a["cosines"]), ann.cosines, "ANN cosines of \(path)")
            XCTAssertEqual(a["top1"] as? Int, ann.top1)
            XCTAssertEqual(item["agree"] as? Bool, snn.top1 == ann.top1)
            let energy = try EnergyAccounting.vision(v.recording, config: model.config, item: 0)
            let e = try XCTUnwrap(item["energy"] as? [String: Any])
            XCTAssertEqual(double(e["snn_paper_pj"]), energy.totalPJ(.paper), accuracy: 1e-6 * energy.totalPJ(.paper))
            XCTAssertEqual(double(e["snn_fuller_pj"]), energy.totalPJ(.fuller), accuracy: 1e-6 * energy.totalPJ(.fuller))
            XCTAssertEqual(double(e["ann_paper_pj"]), annEnergy.totalPJ(.paper), accuracy: 1e-6 * annEnergy.totalPJ(.paper))
        }
    }

    func testClassifyTextOutputNamesTopOneAndEnergy() throws {
        let r = try run(["classify", "--checkpoint", Self.fixture, "--image", Self.images[0], "--prompt", "1 5 9 2", "--prompt", "1 7 2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("SNN top-1"), r.stdout)
        XCTAssertTrue(r.stdout.contains("energy: SNN"), r.stdout)
        XCTAssertTrue(r.stdout.contains("1 5 9 2"), r.stdout)
    }

    func testEvalJSONMatchesEngine() throws {
        let dir = try temporaryDirectory()
        let classes = (0..<10).map { "1 \(10 + 7 * $0) \(20 + 3 * $0) 2" }
        let classesFile = dir + "/classes.txt"
        try (["# token-id prompts, one per label"] + classes + ["+1 99 2"]).joined(separator: "\n").write(toFile: classesFile, atomically: true, encoding: .utf8)
        let n = 12
        let r = try run(["eval", "--json", "--checkpoint", Self.fixture, "--limit", String(n), "--batch-size", "5", "--classes-file", classesFile])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = r.json
        XCTAssertEqual(json["images"] as? Int, n)
        XCTAssertEqual((json["classes"] as? [String])?.count, 11)
        XCTAssertEqual(json["label_classes"] as? Int, 10)

        let model = try self.model
        let prompts = (classes + ["1 99 2"]).map { line -> [Int] in
            let ids = line.split(separator: " ").map { Int($0)! }
            return ids + [Int](repeating: 0, count: model.config.text.contextLength - ids.count)
        }
        let cls = try classifier(model, prompts: prompts)
        let images = try IDXFile(path: FashionMNIST.files(split: "test").images)
        let labelFile = try IDXFile(path: FashionMNIST.files(split: "test").labels)
        let pre = try ImagePreprocessor(config: model.config.preprocess)
        let x = try (0..<n).flatMap { pre(try images.image(at: $0)) }
        let labels = try (0..<n).map(labelFile.label(at:))
        let v = try model.vision.forward(pixels: x, batch: n, mode: .event)
        let ann = try model.annVision!.forward(pixels: x, batch: n)
        let d = model.config.text.targetDim
        var top1 = 0, top5 = 0, annTop1 = 0, agree = 0, paper = 0.0
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: 11), count: 10)
        for i in 0..<n {
            let s = cls.score(imageEmbedding: Array(v.embedding[(i * d)..<((i + 1) * d)]))
            let a = cls.score(imageEmbedding: Array(ann[(i * d)..<((i + 1) * d)]))
            if s.top1 == labels[i] { top1 += 1 }
            if s.topK(5).contains(labels[i]) { top5 += 1 }
            if a.top1 == labels[i] { annTop1 += 1 }
            if a.top1 == s.top1 { agree += 1 }
            confusion[labels[i]][s.top1] += 1
            paper += try EnergyAccounting.vision(v.recording, config: model.config, item: i).totalPJ(.paper)
        }
        let spiking = try XCTUnwrap(json["spiking"] as? [String: Any])
        XCTAssertEqual(double(spiking["top1"]), Double(top1) / Double(n), accuracy: 1e-12)
        XCTAssertEqual(double(spiking["top5"]), Double(top5) / Double(n), accuracy: 1e-12)
        XCTAssertEqual(spiking["confusion"] as? [[Int]], confusion)
        XCTAssertEqual(double((json["ann"] as? [String: Any])?["top1"]), Double(annTop1) / Double(n), accuracy: 1e-12)
        XCTAssertEqual(double(json["agreement"]), Double(agree) / Double(n), accuracy: 1e-12)
        let energy = try XCTUnwrap(json["energy"] as? [String: Any])
        XCTAssertEqual(double(energy["snn_paper_pj_mean"]), paper / Double(n), accuracy: 1e-6 * paper / Double(n))
        let rates = try XCTUnwrap(json["firing_rates"] as? [[String: Any]])
        let q = try XCTUnwrap(v.recording["vision.block.0.attn.q_lif"])
        let qRate = rates.first { $0["layer"] as? String == "vision.block.0.attn.q_lif" }?["firing_rate"]
        XCTAssertEqual(double(qRate), q.firingRate(), accuracy: 1e-12)
        let throughput = try XCTUnwrap(json["throughput"] as? [String: Any])
        XCTAssertGreaterThan(double(throughput["spiking_images_per_second"]), 0)
        XCTAssertGreaterThan(double(throughput["ann_images_per_second"]), 0)
        XCTAssertEqual(r.stderr, "", "no progress bar when stderr is not a terminal")
    }

    /// `sweep --over T|silence|threshold` (issue 17): the T = T point is `eval` on the same images, energy grows with
    /// the steps run, the ANN side never changes, `--out` writes CSV/PNG/SVG once (then `--force`), bad values are errors.
    func testSweepOverTimeStepsSilenceAndThreshold() throws {
        let checkpoint = Self.root.appendingPathComponent("assets/checkpoints/default.safetensors").path
        let sweep = try run(["sweep", "--json", "--checkpoint", checkpoint, "--over", "T", "--images", "24"])
        XCTAssertEqual(sweep.status, 0, sweep.stderr)
        // stderr is a pipe here: one plain progress line per point, no carriage returns or escapes.
        let progress = sweep.stderr.split(separator: "\n")
        XCTAssertEqual(progress.count, 4, sweep.stderr)
        XCTAssertTrue(progress.allSatisfy { $0.hasPrefix("sweep T: point ") && $0.contains(" done: SNN ") }, sweep.stderr)
        XCTAssertFalse(sweep.stderr.contains("\r") || sweep.stderr.contains("\u{1B}"))
        let points = try XCTUnwrap(sweep.json["points"] as? [[String: Any]])
        XCTAssertEqual(points.map { $0["value"] as? String }, ["1", "2", "3", "4"])
        let eval = try run(["eval", "--json", "--checkpoint", checkpoint, "--limit", "24"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertEqual(points[3]["snn_top1"] as? Double, (eval.json["spiking"] as? [String: Any])?["top1"] as? Double)
        XCTAssertEqual(points[3]["agreement"] as? Double, eval.json["agreement"] as? Double)
        XCTAssertEqual(points[3]["snn_paper_pj_mean"] as? Double, (eval.json["energy"] as? [String: Any])?["snn_paper_pj_mean"] as? Double)
        let energies = points.compactMap { $0["snn_paper_pj_mean"] as? Double }
        XCTAssertEqual(energies, energies.sorted())
        XCTAssertLessThan(energies[0], energies[3] / 2, "one step costs well under half of four")
        XCTAssertEqual(Set(points.compactMap { $0["ann_top1"] as? Double }).count, 1, "the ANN side is not swept")
        XCTAssertNotNil(points[0]["snn_acs_mean"] as? Double, "regression: the key was snn_a_cs_mean")

        let dir = try temporaryDirectory()
        let q = "vision.block.0.attn.q_lif"
        let lesion = try run(["sweep", "--checkpoint", checkpoint, "--over", "silence", "--values", q, "--images", "12", "--out", dir])
        XCTAssertEqual(lesion.status, 0, lesion.stderr)
        XCTAssertTrue(lesion.stdout.contains("largest drop: silencing \(q)"), lesion.stdout)
        XCTAssertTrue(lesion.stdout.contains("* SNN top-1"), "terminal plot legend: \(lesion.stdout)")
        let csv = try String(contentsOfFile: dir + "/sweep-silence.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 3)
        XCTAssertTrue(csv[0].hasPrefix("silence,snn_top1,"))
        XCTAssertTrue(csv[1].hasPrefix("none,") && csv[2].hasPrefix(q + ","))
        let png = try XCTUnwrap(FileManager.default.contents(atPath: dir + "/sweep-silence.png"))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertTrue(try String(contentsOfFile: dir + "/sweep-silence.svg", encoding: .utf8).contains("<svg"))
        let again = try run(["sweep", "--checkpoint", checkpoint, "--over", "silence", "--values", q, "--images", "2", "--out", dir])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("file exists (use --force to overwrite)"), again.stderr)

        // The same interventions on eval and classify: a silenced layer through eval equals that sweep point.
        let silencedEval = try run(["eval", "--json", "--checkpoint", checkpoint, "--limit", "12", "--silence", q])
        XCTAssertEqual(silencedEval.status, 0, silencedEval.stderr)
        let lesionJSON = try run(["sweep", "--json", "--checkpoint", checkpoint, "--over", "silence", "--values", q, "--images", "12"])
        let lesionPoints = try XCTUnwrap(lesionJSON.json["points"] as? [[String: Any]])
        XCTAssertEqual((silencedEval.json["spiking"] as? [String: Any])?["top1"] as? Double, lesionPoints[1]["snn_top1"] as? Double)
        XCTAssertNotNil(silencedEval.json["interventions"])
        let classified = try run(["classify", "--json", "--checkpoint", checkpoint, "--image", Self.images[0], "--interventions",
                                  #"{"interventions": [{"layer": "\#(q)", "action": "silence"}], "steps": 3}"#])
        XCTAssertEqual(classified.status, 0, classified.stderr)
        XCTAssertEqual((classified.json["interventions"] as? [String: Any])?["steps"] as? Int, 3)
        let badJSON = try run(["classify", "--checkpoint", checkpoint, "--image", Self.images[0], "--interventions", "{"])
        XCTAssertEqual(badJSON.status, 1)
        XCTAssertTrue(badJSON.stderr.hasPrefix("error: --interventions: not an intervention set"), badJSON.stderr)
        // Regressions (fresh-user trial): the bad key is named, a target needs its index, ties are said.
        let badAction = try run(["classify", "--checkpoint", checkpoint, "--image", Self.images[0], "--interventions",
                                 #"{"interventions": [{"layer": "\#(q)", "action": "boom"}]}"#])
        XCTAssertTrue(badAction.stderr.contains("invalid value at 'interventions[0].action'") && badAction.stderr.contains("silence|force|threshold"), badAction.stderr)
        let noIndex = try run(["classify", "--checkpoint", checkpoint, "--image", Self.images[0], "--interventions",
                               #"{"interventions": [{"layer": "\#(q)", "action": "silence", "target": "neuron"}]}"#])
        XCTAssertTrue(noIndex.stderr.contains("missing 'interventions[0].index'"), noIndex.stderr)
        let tie = try run(["classify", "--checkpoint", checkpoint, "--image", Self.images[0], "--silence", "text.mlp_lif1"])
        XCTAssertTrue(tie.stdout.contains("(tied with 9 other classes)"), tie.stdout)
        let unknown = try run(["sweep", "--checkpoint", checkpoint, "--over", "silence", "--values", "vision.nope", "--images", "2"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertEqual(unknown.stderr, "error: --values 'vision.nope': intervention: no spiking layer named 'vision.nope'\n")
        for bad in [["--over", "tau"], ["--over", "threshold", "--values", "0"], ["--over", "T", "--values", "x"]] {
            let r = try run(["sweep", "--checkpoint", checkpoint, "--images", "2"] + bad)
            XCTAssertEqual(r.status, 2, "\(bad): \(r.stderr)")
        }
        let steps = try run(["sweep", "--checkpoint", checkpoint, "--over", "T", "--values", "9", "--images", "2"])
        XCTAssertEqual(steps.status, 1)
        XCTAssertTrue(steps.stderr.contains("steps 9 out of range 1...4"), steps.stderr)
    }

    /// A copy of a checkpoint with its `config` JSON edited (the safetensors header rewritten, tensors untouched).
    func rewrittenCheckpoint(_ source: String, to target: String, edit: (inout [String: Any]) -> Void) throws {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: source))
        let n = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
        var header = try XCTUnwrap(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any])
        var meta = try XCTUnwrap(header["__metadata__"] as? [String: String])
        var config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try XCTUnwrap(meta["config"]).utf8)) as? [String: Any])
        edit(&config)
        meta["config"] = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        header["__metadata__"] = meta
        var json = try JSONSerialization.data(withJSONObject: header)
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(data.subdata(in: (8 + n)..<data.count))
        try out.write(to: URL(fileURLWithPath: target))
    }

    /// A file converted from the official code (`Tests/Fixtures/official-import`: no ANN twin, CLIP BPE,
    /// `clip-then-resize`) opens in every command with CLIP (its folder named by `ann_text`) as the ANN side, and
    /// without it as the spiking side alone (issue 14).
    func testConvertedOfficialFileWithAndWithoutCLIP() throws {
        let checkpoint = Self.root.appendingPathComponent("Tests/Fixtures/official-import/model.safetensors").path
        let clip = try CLIPModel(folder: Self.root.appendingPathComponent("Tests/Fixtures/clip/official-ann").path)
        let k = try run(["classify", "--json", "--checkpoint", checkpoint, "--image", Self.images[0], "--prompt", "cat", "--prompt", "bag"])
        XCTAssertEqual(k.status, 0, k.stderr)
        XCTAssertEqual(k.json["ann_image_encoder"] as? String, "clip")
        XCTAssertEqual(k.json["ann_text_encoder"] as? String, "clip")
        let image = try XCTUnwrap((k.json["images"] as? [[String: Any]])?.first)
        XCTAssertNotNil(image["ann"])
        let energy = try XCTUnwrap(image["energy"] as? [String: Any])
        XCTAssertEqual(energy["ann_macs"] as? Double, EnergyAccounting.clipVision(clip.config).totalMACs)
        // The same numbers as the engine called directly (prepared views: CLIP 224, spiking 32x32 resized from it).
        let bundle = try CheckpointBundle(checkpoint: checkpoint, assets: Self.root.appendingPathComponent("assets").path)
        let pipeline = SpikeCLIPPipeline(bundle: bundle)
        let text = try pipeline.encodeText(PromptSet(classes: ["cat", "bag"], templates: bundle.defaultTemplates), mode: .event)
        let r = try pipeline.analyze(images: [try pipeline.prepare(Self.images[0])], text: text, options: AnalysisOptions(mode: .event))
        // Within float rounding, not bit for bit: the CLI may run other OpenBLAS kernels than this test process
        // (it restarts itself when OpenBLAS chose generic ones, BLASCore; this process is not restarted).
        let annCos = try XCTUnwrap((image["ann"] as? [String: Any])?["cosines"] as? [Double]).map(Float.init)
        let annWant = try XCTUnwrap(r.images[0].ann).cosines
        XCTAssertEqual(annCos.count, annWant.count)
        for (a, b) in zip(annCos, annWant) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        let snnCos = try XCTUnwrap((image["snn"] as? [String: Any])?["cosines"] as? [Double]).map(Float.init)
        let snnWant = try XCTUnwrap(r.images[0].snn).cosines
        XCTAssertEqual(snnCos.count, snnWant.count)
        for (a, b) in zip(snnCos, snnWant) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        let text1 = try run(["classify", "--checkpoint", checkpoint, "--image", Self.images[0]])
        XCTAssertTrue(text1.stdout.contains("ANN side: CLIP's image tower vs CLIP's text tower"), text1.stdout)
        let e = try run(["energy", "--json", "--checkpoint", checkpoint, "--image", Self.images[0]])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertEqual(e.json["ann_image_encoder"] as? String, "clip")
        XCTAssertEqual(((e.json["ann"] as? [String: Any])?["layers"] as? [Any])?.count, EnergyAccounting.clipVision(clip.config).layers.count)
        let inspect = try run(["inspect", checkpoint])
        XCTAssertTrue(inspect.stdout.contains("no ANN twin") && inspect.stdout.contains("clip-then-resize"), inspect.stdout)

        // Without a CLIP folder: the spiking side alone, said so, no ANN fields.
        let dir = try temporaryDirectory()
        try rewrittenCheckpoint(checkpoint, to: dir + "/spiking-only.safetensors") { $0["ann_text"] = NSNull() }
        let alone = try run(["classify", "--json", "--checkpoint", dir + "/spiking-only.safetensors", "--image", Self.images[0], "--prompt", "cat", "--prompt", "bag"])
        XCTAssertEqual(alone.status, 0, alone.stderr)
        XCTAssertNil(alone.json["ann_image_encoder"])
        let first = try XCTUnwrap((alone.json["images"] as? [[String: Any]])?.first)
        XCTAssertNil(first["ann"])
        XCTAssertNil((first["energy"] as? [String: Any])?["ann_macs"])
        XCTAssertEqual((first["snn"] as? [String: Any])?["cosines"] as? [Double], (image["snn"] as? [String: Any])?["cosines"] as? [Double],
                       "the spiking side does not depend on CLIP")
        let aloneText = try run(["classify", "--checkpoint", dir + "/spiking-only.safetensors", "--image", Self.images[0]])
        XCTAssertTrue(aloneText.stdout.contains("ANN side: none"), aloneText.stdout)
        // Regression (fresh-user trial): an official .pth.tar given directly says to convert it (it read as a
        // safetensors header of 578712552184433488 bytes).
        let pickle = dir + "/model_best.pth.tar"
        try Data([0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 60)).write(to: URL(fileURLWithPath: pickle))
        let direct = try run(["classify", "--checkpoint", pickle, "--image", Self.images[0]])
        XCTAssertEqual(direct.status, 1)
        XCTAssertEqual(direct.stderr, "error: \(pickle): a PyTorch file (.pth / .pth.tar), not a SpikeCLIP checkpoint; convert it first with python -m spikeclip_training.convert_official (README: Open your own SpikeCLIP)\n")
        // A CLIP folder that is named but missing is one line naming it.
        try FileManager.default.copyItem(atPath: checkpoint, toPath: dir + "/moved.safetensors")
        let moved = try run(["classify", "--checkpoint", dir + "/moved.safetensors", "--image", Self.images[0]])
        XCTAssertEqual(moved.status, 1)
        XCTAssertTrue(moved.stderr.hasPrefix("error: ") && moved.stderr.contains("clip/official-ann") && moved.stderr.split(separator: "\n").count == 1, moved.stderr)
    }

    /// `eval --dataset cifar10|folder` on small generated data sets in those layouts (issue 14): the CIFAR binary
    /// records and the ImageFolder tree are read with their labels, and each image's top-1 equals `classify`'s.
    func testEvalOnCIFARBinaryAndImageFolder() throws {
        let dir = try temporaryDirectory()
        let checkpoint = Self.root.appendingPathComponent("assets/checkpoints/default.safetensors").path
        // CIFAR-10: 4 records (label byte, then 1,024 R, G, B bytes): labels 3, 0, 9, 5.
        var bin: [UInt8] = []
        for (i, label) in [3, 0, 9, 5].enumerated() {
            bin.append(UInt8(label))
            for c in 0..<3 { for p in 0..<1024 { bin.append(UInt8((p * (i + 1) + c * 85) % 256)) } }
        }
        try FileManager.default.createDirectory(atPath: dir + "/cifar-10-batches-bin", withIntermediateDirectories: true)
        try Data(bin).write(to: URL(fileURLWithPath: dir + "/cifar-10-batches-bin/test_batch.bin"))
        let r = try run(["eval", "--json", "--checkpoint", checkpoint, "--dataset", "cifar10", "--data-dir", dir, "--templates-file", "/dev/null"])
        XCTAssertEqual(r.status, 1, "an empty templates file is refused")
        let c = try run(["eval", "--json", "--checkpoint", checkpoint, "--dataset", "cifar10", "--data-dir", dir])
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertEqual(c.json["images"] as? Int, 4)
        XCTAssertEqual(c.json["classes"] as? [String], CIFARSet.cifar10Classes)
        XCTAssertEqual((c.json["templates"] as? [String])?.count, 18)
        let confusion = try XCTUnwrap((c.json["spiking"] as? [String: Any])?["confusion"] as? [[Int]])
        XCTAssertEqual(confusion.map { $0.reduce(0, +) }, (0..<10).map { [3, 0, 9, 5].contains($0) ? 1 : 0 })
        // The converted official file on the same records: CLIP (its own 224 view per image) as the ANN side.
        let official = try run(["eval", "--json", "--checkpoint", Self.root.appendingPathComponent("Tests/Fixtures/official-import/model.safetensors").path,
                                "--dataset", "cifar10", "--data-dir", dir])
        XCTAssertEqual(official.status, 0, official.stderr)
        XCTAssertEqual(official.json["ann_image_encoder"] as? String, "clip")
        XCTAssertNotNil(official.json["ann"] as? [String: Any])
        XCTAssertNotNil(official.json["agreement"] as? Double)
        let set = try CIFARSet(.cifar10, split: "test", directory: dir)
        XCTAssertEqual(try (0..<4).map(set.label(at:)), [3, 0, 9, 5])
        XCTAssertEqual(try set.image(at: 1).samples[3], Float((1 * 2 + 0) % 256) / 255, accuracy: 1e-7)  // pixel 1, R
        // A truncated batch is one line naming the file.
        try Data(bin.prefix(5000)).write(to: URL(fileURLWithPath: dir + "/cifar-10-batches-bin/test_batch.bin"))
        let bad = try run(["eval", "--checkpoint", checkpoint, "--dataset", "cifar10", "--data-dir", dir])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.hasPrefix("error: ") && bad.stderr.contains("test_batch.bin") && !bad.stderr.dropLast().contains("\n"), bad.stderr)

        // ImageFolder: two classes (folder names, sorted), the demo images inside, a non-image file skipped.
        let folder = dir + "/folder"
        for (cls, files) in [("ankle_boot", ["ankle-boot_0000.png"]), ("bag", ["bag_0018.png", "notes.txt"])] {
            try FileManager.default.createDirectory(atPath: folder + "/" + cls, withIntermediateDirectories: true)
            for f in files {
                let target = folder + "/" + cls + "/" + f
                if f.hasSuffix(".txt") { try "not an image".write(toFile: target, atomically: true, encoding: .utf8) }
                else { try FileManager.default.copyItem(atPath: Self.root.appendingPathComponent("assets/images/" + f).path, toPath: target) }
            }
        }
        let f = try run(["eval", "--json", "--checkpoint", checkpoint, "--dataset", "folder", "--data-dir", folder])
        XCTAssertEqual(f.status, 0, f.stderr)
        XCTAssertEqual(f.json["images"] as? Int, 2)
        XCTAssertEqual(f.json["classes"] as? [String], ["ankle boot", "bag"])
        let top1 = try XCTUnwrap((f.json["spiking"] as? [String: Any])?["top1"] as? Double)
        var hits = 0
        for (label, image) in [(0, "ankle-boot_0000.png"), (1, "bag_0018.png")] {
            let k = try run(["classify", "--json", "--checkpoint", checkpoint, "--image", Self.root.appendingPathComponent("assets/images/" + image).path,
                             "--prompt", "ankle boot", "bag"])
            let snn = try XCTUnwrap(((k.json["images"] as? [[String: Any]])?.first?["snn"] as? [String: Any])?["top1"] as? Int)
            if snn == label { hits += 1 }
        }
        XCTAssertEqual(top1, Double(hits) / 2, accuracy: 1e-9)
        let none = try run(["eval", "--checkpoint", checkpoint, "--dataset", "folder", "--data-dir", dir + "/cifar-10-batches-bin"])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.stderr.contains("no class sub-folders"), none.stderr)
        let usage = try run(["eval", "--dataset", "cifar10"])
        XCTAssertEqual(usage.status, 2)
        XCTAssertTrue(usage.stderr.contains("--data-dir"), usage.stderr)
    }

    /// `eval --prompts-file` (issue 16): whole free-text prompts, used as written, score exactly as the same
    /// prompts built from `--classes-file` names and a one-line `--templates-file`; it excludes both options.
    func testEvalPromptsFileUsesWholePromptsAsWritten() throws {
        let dir = try temporaryDirectory()
        let checkpoint = Self.root.appendingPathComponent("assets/checkpoints/default.safetensors").path
        let names = ["tee", "pants", "sweater", "gown", "overcoat", "flip-flop", "blouse", "running shoe", "handbag", "short boot"]
        try (["# whole prompts, label order"] + names.map { "a photo of my \($0), seen from the front." } + ["+a photo of a hat."])
            .joined(separator: "\n").write(toFile: dir + "/prompts.txt", atomically: true, encoding: .utf8)
        try (names + ["+hat"]).joined(separator: "\n").write(toFile: dir + "/classes.txt", atomically: true, encoding: .utf8)
        try "a photo of my {}, seen from the front.".write(toFile: dir + "/templates.txt", atomically: true, encoding: .utf8)
        try "a photo of a {}.".write(toFile: dir + "/hat-template.txt", atomically: true, encoding: .utf8)
        let prompts = try run(["eval", "--json", "--checkpoint", checkpoint, "--limit", "40", "--prompts-file", dir + "/prompts.txt"])
        XCTAssertEqual(prompts.status, 0, prompts.stderr)
        XCTAssertEqual(prompts.json["templates"] as? [String], ["{}"])
        XCTAssertEqual((prompts.json["classes"] as? [String])?.last, "a photo of a hat.")
        XCTAssertEqual(prompts.json["label_classes"] as? Int, 10)
        // The same ten prompts through names + template (the distractor differs in wording, so drop it there).
        try names.joined(separator: "\n").write(toFile: dir + "/classes.txt", atomically: true, encoding: .utf8)
        try (names.map { "a photo of my \($0), seen from the front." }).joined(separator: "\n").write(toFile: dir + "/prompts10.txt", atomically: true, encoding: .utf8)
        let a = try run(["eval", "--json", "--checkpoint", checkpoint, "--limit", "40", "--prompts-file", dir + "/prompts10.txt"])
        let b = try run(["eval", "--json", "--checkpoint", checkpoint, "--limit", "40", "--classes-file", dir + "/classes.txt", "--templates-file", dir + "/templates.txt"])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(b.status, 0, b.stderr)
        let sa = try XCTUnwrap(a.json["spiking"] as? [String: Any]), sb = try XCTUnwrap(b.json["spiking"] as? [String: Any])
        XCTAssertEqual(sa["confusion"] as? [[Int]], sb["confusion"] as? [[Int]])
        XCTAssertEqual(double(sa["top1"]), double(sb["top1"]))
        let both = try run(["eval", "--checkpoint", checkpoint, "--prompts-file", dir + "/prompts.txt", "--classes-file", dir + "/classes.txt"])
        XCTAssertEqual(both.status, 2)
        XCTAssertTrue(both.stderr.contains("--prompts-file replaces --classes-file"), both.stderr)
    }

    func testEvalOnTokenIDCheckpointNeedsClassesFile() throws {
        let r = try run(["eval", "--checkpoint", Self.fixture, "--limit", "2"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("error: ") && r.stderr.contains("--classes-file"), r.stderr)
    }

    func testRasterWritesPNGSVGAndTextAndRefusesToOverwrite() throws {
        let dir = try temporaryDirectory()
        let layer = "vision.block.0.attn.q_lif"
        let model = try self.model
        let v = try model.vision.forward(pixels: try pixels(Self.images[0], model), batch: 1, mode: .event)
        let rec = try XCTUnwrap(v.recording[layer])
        for ext in ["png", "svg", "txt"] {
            let out = dir + "/raster." + ext
            let r = try run(["raster", "--json", "--checkpoint", Self.fixture, "--image", Self.images[0], "--layer", layer, "--out", out])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(double(r.json["layer_firing_rate"]), rec.firingRate(item: 0), accuracy: 1e-12)
            XCTAssertEqual(r.json["total_neurons"] as? Int, rec.neuronsPerItem)
            XCTAssertEqual(r.json["steps"] as? Int, model.config.T)
            let bytes = try XCTUnwrap(FileManager.default.contents(atPath: out))
            XCTAssertEqual(r.json["bytes"] as? Int, bytes.count)
            switch ext {
            case "png":
                let image = try ImageDecoder.decode(path: out)
                XCTAssertEqual(image.channels, 3)
                XCTAssertGreaterThan(image.width, 100)
                XCTAssertEqual(r.json["neurons"] as? Int, min(256, rec.neuronsPerItem))
                XCTAssertGreaterThan(image.height, 2 * min(256, rec.neuronsPerItem))  // at least 2 px per plotted neuron
            case "svg":
                let text = String(decoding: bytes, as: UTF8.self)
                XCTAssertTrue(text.contains("<svg") && text.contains("Spike raster: \(layer)") && text.contains("time step"), text)
            default:
                let text = String(decoding: bytes, as: UTF8.self)
                XCTAssertTrue(text.hasPrefix("Spike raster: \(layer)"), text)
                XCTAssertTrue(text.contains("<- time step"))
            }
            // Refuses to overwrite: exit 1, one line naming the file, file unchanged.
            let again = try run(["raster", "--checkpoint", Self.fixture, "--image", Self.images[1], "--layer", layer, "--out", out])
            XCTAssertEqual(again.status, 1)
            XCTAssertTrue(again.stderr.hasPrefix("error: ") && again.stderr.contains(out), again.stderr)
            XCTAssertEqual(again.stderr.split(separator: "\n").count, 1)
            XCTAssertEqual(FileManager.default.contents(atPath: out), bytes)
            // --force replaces it atomically and leaves no temporary file behind.
            let forced = try run(["raster", "--checkpoint", Self.fixture, "--image", Self.images[1], "--layer", layer, "--out", out, "--force"])
            XCTAssertEqual(forced.status, 0, forced.stderr)
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(left, ["raster.png", "raster.svg", "raster.txt"])
        let bad = try run(["raster", "--checkpoint", Self.fixture, "--image", Self.images[0], "--layer", "vision.nope", "--out", dir + "/x.png"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("vision.nope"), bad.stderr)
        let ext = try run(["raster", "--image", Self.images[0], "--layer", layer, "--out", dir + "/x.gif"])
        XCTAssertEqual(ext.status, 2)
    }

    /// Text-encoder layers take --prompt: the raster is that prompt's spikes, as the engine records them.
    func testRasterOfATextLayerTakesAPrompt() throws {
        let dir = try temporaryDirectory()
        let layer = "text.mlp_lif2"
        let model = try self.model
        let ids = [1, 85, 53, 39] + [Int](repeating: model.config.tokenizer.padId, count: model.config.text.contextLength - 4)
        let (_, recording) = try model.text.forward(tokenIds: [ids], mode: .event)
        let rec = try XCTUnwrap(recording[layer])
        let out = dir + "/text.txt"
        let r = try run(["raster", "--json", "--checkpoint", Self.fixture, "--prompt", "1 85 53 39", "--layer", layer, "--out", out,
                         "--max-neurons", "8", "--glyphs", "ascii"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.json["prompt"] as? String, "1 85 53 39")
        XCTAssertNil(r.json["image"])
        XCTAssertEqual(r.json["total_neurons"] as? Int, rec.neuronsPerItem)
        XCTAssertEqual(double(r.json["layer_firing_rate"]), rec.firingRate(item: 0), accuracy: 1e-12)
        let text = String(decoding: try XCTUnwrap(FileManager.default.contents(atPath: out)), as: UTF8.self)
        XCTAssertTrue(text.contains("prompt '1 85 53 39'"), text)
        // Time steps are numbered 1...T, as in the explorer.
        let axis = try XCTUnwrap(text.split(separator: "\n").first { $0.hasSuffix("<- time step") })
        XCTAssertEqual(axis.split(separator: " ").dropLast(3), (1...model.config.T).map { Substring(String($0)) })
        // Wrong input for the layer's encoder: usage errors naming what to give.
        for (args, expected) in [(["--image", Self.images[0], "--layer", layer], "give --prompt"),
                                 (["--prompt", "1 2", "--layer", "vision.block.0.attn.q_lif"], "give --image"),
                                 (["--prompt", "  ", "--layer", layer], "--prompt is empty")] {
            let bad = try run(["raster", "--checkpoint", Self.fixture, "--out", dir + "/bad.txt"] + args)
            XCTAssertEqual(bad.status, 2, bad.stderr)
            XCTAssertTrue(bad.stderr.contains(expected), bad.stderr)
        }
        let unknown = try run(["raster", "--checkpoint", Self.fixture, "--prompt", "1", "--layer", "text.nope", "--out", dir + "/bad.txt"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("not a LIF layer of the text encoder; known: text.mlp_lif1, text.mlp_lif2"), unknown.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/bad.txt"))
    }

    func testEnergyJSONMatchesEngine() throws {
        let r = try run(["energy", "--json", "--checkpoint", Self.fixture, "--image", Self.images[2]])
        XCTAssertEqual(r.status, 0, r.stderr)
        let model = try self.model
        let v = try model.vision.forward(pixels: try pixels(Self.images[2], model), batch: 1, mode: .event)
        let report = try EnergyAccounting.vision(v.recording, config: model.config, item: 0)
        let snn = try XCTUnwrap(r.json["snn"] as? [String: Any])
        let layers = try XCTUnwrap(snn["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.map { $0["name"] as? String ?? "" }, report.layers.map(\.name))
        for (row, ops) in zip(layers, report.layers) {
            XCTAssertEqual(double(row["macs"]), ops.totalMACs, ops.name)
            XCTAssertEqual(double(row["acs"]), ops.totalACs, ops.name)
            XCTAssertEqual(double(row["paper_pj"]), ops.energyPJ(.paper, report.constants), accuracy: 1e-9 * max(1, ops.energyPJ(.paper, report.constants)), ops.name)
            XCTAssertEqual(double(row["fuller_pj"]), ops.energyPJ(.fuller, report.constants), accuracy: 1e-9 * max(1, ops.energyPJ(.fuller, report.constants)), ops.name)
        }
        let lif = try XCTUnwrap(layers.first { $0["name"] as? String == "vision.patch_embed.block1_lif" })
        XCTAssertEqual(double(lif["firing_rate"]), try XCTUnwrap(v.recording["vision.patch_embed.block1_lif"]).firingRate(item: 0), accuracy: 1e-12)
        XCTAssertEqual(double(snn["total_paper_pj"]), report.totalPJ(.paper), accuracy: 1e-9 * report.totalPJ(.paper))
        let ann = try XCTUnwrap(r.json["ann"] as? [String: Any])
        XCTAssertEqual(double(ann["total_macs"]), EnergyAccounting.annVision(config: model.config)!.totalMACs)
        // Energies are printed without summation noise (28851.199999999997 -> 28851.2): at most 12 significant digits.
        let energyValues = try NSRegularExpression(pattern: #""[a-z_]*(pj|macs|acs|rate)[a-z_]*" : (-?[0-9.]+)(e[-+]?[0-9]+)?"#)
        let matches = energyValues.matches(in: r.stdout, range: NSRange(r.stdout.startIndex..., in: r.stdout))
        XCTAssertGreaterThan(matches.count, 20)
        for m in matches {
            let mantissa = String(r.stdout[Range(m.range(at: 2), in: r.stdout)!])
            let digits = mantissa.filter(\.isNumber).drop { $0 == "0" }
            XCTAssertLessThanOrEqual(digits.count, 12, String(r.stdout[Range(m.range, in: r.stdout)!]))
        }
        let text = try run(["energy", "--checkpoint", Self.fixture, "--image", Self.images[2]])
        XCTAssertTrue(text.stdout.contains("vision.block.0.attn.qk") && text.stdout.contains("SNN / ANN energy"), text.stdout)
    }

    func testInspectJSONMatchesFile() throws {
        let r = try run(["inspect", "--json", Self.fixture])
        XCTAssertEqual(r.status, 0, r.stderr)
        let file = try SafeTensorsFile(path: Self.fixture)
        let model = try self.model
        XCTAssertEqual(r.json["parameters"] as? Int, file.tensors.values.reduce(0) { $0 + $1.elementCount })
        let modules = try XCTUnwrap(r.json["modules"] as? [[String: Any]])
        XCTAssertEqual(modules.reduce(0) { $0 + ($1["parameters"] as? Int ?? 0) }, r.json["parameters"] as? Int)
        XCTAssertTrue(modules.contains { $0["module"] as? String == "vision.patch_embed" })
        XCTAssertEqual(r.json["dtypes"] as? [String: Int], ["F32": file.tensors.count])
        // sha256 against coreutils.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [Self.fixture]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let expected = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: " ").first.map(String.init)
        p.waitUntilExit()
        XCTAssertEqual(r.json["sha256"] as? String, expected)
        let layers = try XCTUnwrap(r.json["lif_layers"] as? [[String: Any]])
        XCTAssertEqual(layers.map { $0["name"] as? String ?? "" }, model.vision.lifLayerNames + model.text.lifLayerNames)
        XCTAssertEqual(layers.first?["shape"] as? [Int], [4, 1, 4, 28, 28])
        XCTAssertEqual(layers.first { $0["name"] as? String == "vision.block.0.attn.attn_lif" }?["threshold"] as? Double, 0.5)
        XCTAssertEqual((r.json["provenance"] as? [String: Any])?["kind"] as? String, "random-fixture")
    }

    /// `tokenize --clip-vocab` gives transformers' CLIP ids (the fixture corpus), `embed --clip` the CLIP tower's
    /// features of the preprocessed image, and both checkpoint sides next to it (issue 13).
    func testCLIPTokenizeAndEmbed() throws {
        let vocab = Self.root.appendingPathComponent("assets/clip/bpe_simple_vocab_16e6.txt.gz").path
        let fixture = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.root.appendingPathComponent("Tests/Fixtures/clip/tokenizer.json"))) as? [String: Any])
        let cases = try XCTUnwrap(fixture["cases"] as? [[String: Any]])
        let known = try XCTUnwrap(cases.first { ($0["text"] as? String)?.hasPrefix("a photo of") == true })
        let r = try run(["tokenize", "--json", "--clip-vocab", vocab, "--context-length", "20", "--text", try XCTUnwrap(known["text"] as? String), "IT'S 100% café!"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let items = try XCTUnwrap(r.json["items"] as? [[String: Any]])
        XCTAssertEqual(items[0]["ids"] as? [Int], known["ids"] as? [Int])
        XCTAssertEqual(items[1]["ids"] as? [Int], Array((try CLIPTokenizer(path: vocab).tokenize("IT'S 100% café!", contextLength: 20)).ids))
        let bad = try run(["tokenize", "--clip-vocab", "/nonexistent", "--text", "a"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.hasPrefix("error: ") && bad.stderr.contains("/nonexistent"), bad.stderr)

        let folder = Self.root.appendingPathComponent("Tests/Fixtures/clip/tiny").path
        let image = Self.root.appendingPathComponent("Tests/Fixtures/clip/images/square-rgb.png").path
        let e = try run(["embed", "--json", "--clip", folder, "--image", image, "--checkpoint", Self.fixture])
        XCTAssertEqual(e.status, 0, e.stderr)
        var models = try XCTUnwrap(e.json["models"] as? [[String: Any]])
        XCTAssertEqual(models.map { $0["model"] as? String }, ["spiking", "ann_twin", "clip"])
        let clip = try CLIPModel(folder: folder)
        let expected = try clip.imageFeatures(pixels: CLIPImagePreprocessor(shortestEdge: 32, cropSize: 32)(ImageDecoder.decode(path: image)), batch: 1)
        assertClose(floats((models[2]["images"] as? [Any])?.first), expected, "CLIP image features")
        // The random-weight fixture's vocabulary is 1,000 ids: real CLIP ids for text are a one-line error.
        let clipText = try run(["embed", "--clip", folder, "--text", "a cat"])
        XCTAssertEqual(clipText.status, 1)
        XCTAssertTrue(clipText.stderr.hasPrefix("error: ") && clipText.stderr.contains("vocabulary has 1000 tokens"), clipText.stderr)
        let t = try run(["embed", "--json", "--checkpoint", Self.fixture, "--text", "1 2 3"])
        XCTAssertEqual(t.status, 0, t.stderr)
        models = try XCTUnwrap(t.json["models"] as? [[String: Any]])
        let m = try model
        let (text, _) = try m.text.forward(tokenIds: [[1, 2, 3] + [Int](repeating: m.config.tokenizer.padId, count: m.config.text.contextLength - 3)], mode: .event)
        assertClose(floats((models[0]["texts"] as? [Any])?.first), text, "spiking text embedding")
    }

    func testTokenizeTokenIDs() throws {
        let ids = (1...23).map(String.init).joined(separator: " ")
        let r = try run(["tokenize", "--json", "--checkpoint", Self.fixture, "--text", ids, "--text", "1 5 2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let items = try XCTUnwrap(r.json["items"] as? [[String: Any]])
        XCTAssertEqual(items[0]["ids"] as? [Int], Array(1...20))
        XCTAssertEqual(items[0]["tokens"] as? Int, 23)
        XCTAssertEqual(items[0]["truncated_pieces"] as? [String], ["21", "22", "23"])
        XCTAssertEqual(items[1]["ids"] as? [Int], [1, 5, 2] + [Int](repeating: 0, count: 17))
        XCTAssertEqual(items[1]["truncated"] as? Int, 0)
        // Several texts after one --text, as classify's --prompt takes them.
        let together = try run(["tokenize", "--json", "--checkpoint", Self.fixture, "--text", ids, "1 5 2"])
        XCTAssertEqual(together.status, 0, together.stderr)
        XCTAssertEqual((together.json["items"] as? [[String: Any]])?.count, 2)
        let bad = try run(["tokenize", "--checkpoint", Self.fixture, "--text", "a dress"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.hasPrefix("error: ") && bad.stderr.contains("token ids"), bad.stderr)
    }

    /// The WordPiece path: the fixture's weights under a config whose tokenizer is MiniLM's vocabulary.
    func testTokenizeWordPieceMatchesTokenizer() throws {
        let dir = try temporaryDirectory()
        let vocab = Self.root.appendingPathComponent("assets/minilm/vocab.txt").path
        let path = dir + "/wordpiece.safetensors"
        try rewriteConfig(of: Self.fixture, to: path) { config in
            config["tokenizer"] = ["kind": "bert-wordpiece", "vocab_file": vocab, "context_length": 20, "pad_id": 0,
                                   "cls_id": 101, "sep_id": 102, "unk_id": 100, "lowercase": true]
        }
        let text = "a low resolution black and white photo of a crumpled sleeveless summer dress with pockets, buttons and embroidered flowers"
        let r = try run(["tokenize", "--json", "--checkpoint", path, "--text", text])
        XCTAssertEqual(r.status, 0, r.stderr)
        let tokenizer = try WordPieceTokenizer(vocabPath: vocab)
        let expected = tokenizer.encode(text, contextLength: 20)
        let item = try XCTUnwrap((r.json["items"] as? [[String: Any]])?.first)
        XCTAssertEqual(item["ids"] as? [Int], expected.ids)
        XCTAssertEqual(item["tokens"] as? Int, expected.untruncatedLength)
        XCTAssertEqual(item["truncated"] as? Int, expected.truncatedCount)
        XCTAssertGreaterThan(expected.truncatedCount, 0)
        XCTAssertEqual(item["truncated_pieces"] as? [String], Array(tokenizer.tokenize(text).suffix(expected.truncatedCount)))
        XCTAssertEqual((item["pieces"] as? [String])?.last, "[SEP]")
    }

    // MARK: errors and exit codes

    func testMissingImageIsRuntimeErrorNamingThePath() throws {
        let missing = "/nonexistent/dir/shoe.png"
        for args in [["classify", "--prompt", "1 2"], ["energy"], ["raster", "--layer", "vision.block.0.attn.q_lif", "--out", "/tmp/never-\(getpid()).png"]] {
            let r = try run(args + ["--checkpoint", Self.fixture, "--image", missing])
            XCTAssertEqual(r.status, 1, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.hasPrefix("error: ") && r.stderr.contains(missing), r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertEqual(r.stdout, "")
        }
    }

    func testUsageErrorsExitTwo() throws {
        for args in [["classify", "--image", Self.images[0], "--no-such-option"], ["eval", "--split", "validation"], ["no-such-command"],
                     ["eval", "--limit", "zero"]] {
            let r = try run(args)
            XCTAssertEqual(r.status, 2, args.joined(separator: " ") + ": " + r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("error: "), r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
        let help = try run(["classify", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("--prompt"))
    }

    func testMistypedSubcommandNamesTheClosestOne() throws {
        let r = try run(["clasify", "--image", Self.images[0]])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("error: unknown subcommand 'clasify' (did you mean 'classify'?)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("subcommands: explore, snapshot, classify, eval"), r.stderr)
        let far = try run(["zzzzzzzz"])
        XCTAssertEqual(far.status, 2)
        XCTAssertTrue(far.stderr.hasPrefix("error: unknown subcommand 'zzzzzzzz'; subcommands: "), far.stderr)
        // Options of the default subcommand still reach it.
        XCTAssertEqual(try run(["--help"]).status, 0)
    }

    /// The defaults (trained checkpoint, assets) are found from any working directory, through the source tree the
    /// binary was built in.
    func testDefaultCheckpointIsFoundOutsideTheRepository() throws {
        let elsewhere = URL(fileURLWithPath: try temporaryDirectory())
        let r = try run(["classify", "--json", "--image", Self.images[0]], in: elsewhere)
        XCTAssertEqual(r.status, 0, r.stderr)
        let expected = Self.root.appendingPathComponent("assets/checkpoints/default.safetensors").path
        XCTAssertEqual((r.json["checkpoint"] as? String).map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path },
                       URL(fileURLWithPath: expected).resolvingSymlinksInPath().path)
        XCTAssertNil(r.json["note"], "the trained default, not the fixture")
        XCTAssertEqual(r.json["ann_text_encoder"] as? String, "minilm", "MiniLM found beside the default checkpoint")
    }

    /// Without a usable terminal the explorer refuses before it starts its first analysis. Regression: it used to
    /// make the explorer first, and exiting while the worker was inside OpenBLAS crashed (CI: TERM=dumb, exit 139).
    /// The order is observable: a checkpoint that does not exist is not even looked at before the terminal check
    /// (the old order reported the missing checkpoint). The trained default's first analysis (MiniLM over every
    /// prompt) is long enough that the old order exited inside it.
    func testExplorerWithoutATerminalRefusesBeforeAnalysing() throws {
        let missing = try run(["explore", "--checkpoint", "/nonexistent/model.safetensors"], timeout: 60)
        XCTAssertEqual(missing.status, 1, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("is not a terminal"), "terminal checked first: \(missing.stderr)")
        for (term, message) in [("xterm", "is not a terminal"), ("dumb", "is not a terminal")] {
            for attempt in 0..<3 {
                let r = try run(["explore"], environment: ["TERM": term], timeout: 60)
                XCTAssertEqual(r.status, 1, "TERM=\(term) attempt \(attempt): \(r.stderr)")
                XCTAssertTrue(r.stderr.hasPrefix("error: ") && r.stderr.contains(message), r.stderr)
                XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)")
                XCTAssertFalse(r.stderr.contains("crashed"), r.stderr)
            }
        }
    }

    /// `snapshot --keys` types keys that need no new analysis (it used to wait forever for one).
    func testSnapshotWithKeysFinishes() throws {
        for keys in ["]]v", "c", "3]"] {
            let r = try run(["snapshot", "--checkpoint", Self.fixture, "--size", "80x24", "--keys", keys], timeout: 60)
            XCTAssertEqual(r.status, 0, "--keys \(keys): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("SNN: "), r.stdout)
        }
        let spatial = try run(["snapshot", "--checkpoint", Self.fixture, "--size", "80x24", "--focus", "spikes", "--keys", "]]v"], timeout: 60)
        XCTAssertTrue(spatial.stdout.contains("3/13 vision.patch_embed.block3_lif") && spatial.stdout.contains("view: spatial map"), spatial.stdout)
    }

    func testCorruptCheckpointIsRuntimeError() throws {
        let dir = try temporaryDirectory()
        let corrupt = dir + "/corrupt.safetensors"
        let good = try XCTUnwrap(FileManager.default.contents(atPath: Self.fixture))
        try good.prefix(good.count / 2).write(to: URL(fileURLWithPath: corrupt))  // truncated
        let garbage = dir + "/garbage.safetensors"
        try Data("this is not a checkpoint at all".utf8).write(to: URL(fileURLWithPath: garbage))
        for path in [corrupt, garbage] {
            for args in [["inspect", path], ["classify", "--checkpoint", path, "--image", Self.images[0]], ["tokenize", "--checkpoint", path, "--text", "1"]] {
                let r = try run(args)
                XCTAssertEqual(r.status, 1, args.joined(separator: " "))
                XCTAssertTrue(r.stderr.hasPrefix("error: ") && r.stderr.contains(path), r.stderr)
                XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            }
        }
    }

    func testDemoStillRuns() throws {
        let r = try run(["demo", "--glyphs", "ascii"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("firing rate per LIF layer"), r.stdout)
    }

    // MARK: helpers

    /// Copies a safetensors file with its `config` metadata changed by `edit` (tensor data unchanged).
    func rewriteConfig(of source: String, to destination: String, _ edit: (inout [String: Any]) -> Void) throws {
        let bytes = [UInt8](try XCTUnwrap(FileManager.default.contents(atPath: source)))
        let n = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        var header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        var metadata = try XCTUnwrap(header["__metadata__"] as? [String: String])
        var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try XCTUnwrap(metadata["config"]).utf8)) as? [String: Any])
        edit(&config)
        metadata["config"] = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        header["__metadata__"] = metadata
        var json = [UInt8](try JSONSerialization.data(withJSONObject: header))
        while json.count % 8 != 0 { json.append(0x20) }
        let length = (0..<8).map { UInt8(truncatingIfNeeded: json.count >> (8 * $0)) }
        try Data(length + json + bytes[(8 + n)...]).write(to: URL(fileURLWithPath: destination))
    }
}

extension CLITests {
    /// Empty prompts are usage errors with one line; prompts with escape sequences never reach the terminal raw.
    func testEmptyPromptAndEscapedPrompt() throws {
        let empty = try run(["classify", "--checkpoint", Self.fixture, "--image", Self.images[0], "--prompt", "  "])
        XCTAssertEqual(empty.status, 2)
        XCTAssertEqual(empty.stderr.split(separator: "\n").count, 1)
        XCTAssertTrue(empty.stderr.hasPrefix("error: --prompt 1 is empty or whitespace only"), empty.stderr)
        let hostile = try run(["classify", "--checkpoint", Self.fixture, "--image", Self.images[0], "--prompt", "1 2\u{1B}[31m"])
        XCTAssertEqual(hostile.status, 1)
        XCTAssertFalse(hostile.stderr.contains("\u{1B}"), "escape sequence written raw: \(hostile.stderr)")
        XCTAssertTrue(hostile.stderr.contains("\\u{1b}"), hostile.stderr)
    }
}
