import Foundation
import XCTest
@testable import SpikeCLIP
@testable import TUI
@testable import Visualize

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let fixtureCheckpoint = root.appendingPathComponent("Tests/Fixtures/tiny-default/model.safetensors").path
let assetsDir = root.appendingPathComponent("assets").path

/// The explorer on the parity fixture (token-id prompts) with the committed demo images.
func makeExplorer(glyphs: GlyphSet = .ascii) throws -> Explorer {
    let e = try ExplorerSession.make(checkpoint: fixtureCheckpoint, assets: assetsDir, glyphs: glyphs)
    e.settle()
    return e
}

final class ExplorerTests: XCTestCase {
    func testTooSmallScreenNamesBothSizes() throws {
        let e = try makeExplorer()
        let lines = e.frame(width: 50, height: 10).lines
        XCTAssertEqual(lines[0].trimmingCharacters(in: .whitespaces), "Terminal too small")
        XCTAssertEqual(lines[1].trimmingCharacters(in: .whitespaces), "current 50x10")
        XCTAssertEqual(lines[2].trimmingCharacters(in: .whitespaces), "needed 60x16")
    }

    func testCompactFrameShowsFocusedPanelAndStatus() throws {
        let e = try makeExplorer()
        let a = try XCTUnwrap(e.analysis)
        for (i, panel) in PanelID.allCases.enumerated() {
            XCTAssertTrue(e.handle(.char(Character(String(i + 1)))))
            let frame = e.frame(width: 80, height: 24)
            XCTAssertEqual(frame.width, 80)
            XCTAssertEqual(frame.lines.count, 24)
            XCTAssertTrue(frame.lines[0].contains("[\(i + 1) \(panel.title)]"), frame.lines[0])
            XCTAssertTrue(frame.lines[1].contains(panel.title), "panel box title: \(frame.lines[1])")
            // Status line: the spiking model's top-1 with its probability, as the engine computed it.
            XCTAssertTrue(frame.lines[23].hasPrefix("SNN: \(terminalSafe(a.classNames[a.snn.top1]))"), frame.lines[23])
        }
    }

    func testTiledFrameShowsEveryPanel() throws {
        let e = try makeExplorer(glyphs: .braille)
        let text = e.frame(width: 120, height: 40).lines.joined(separator: "\n")
        for panel in PanelID.allCases { XCTAssertTrue(text.contains(panel.title), "missing \(panel.title)") }
        XCTAssertTrue(text.contains("paper convention"))
    }

    /// The numbers on screen equal a direct engine call for the same input.
    func testComparePanelNumbersEqualEngine() throws {
        let e = try makeExplorer()
        let model = try SpikeCLIPModel(path: fixtureCheckpoint)
        let image = try XCTUnwrap(e.image)
        let provider = try fixtureProvider()
        let prompts = e.state.classNames
        let ids = try prompts.map { try provider.pipeline.tokenize($0).ids }
        let (text, _) = try model.text.forward(tokenIds: ids)
        let dim = model.config.text.targetDim
        let classifier = ZeroShotClassifier(
            textEmbeddings: (0..<prompts.count).map { Array(text[($0 * dim)..<(($0 + 1) * dim)]) }, templatesPerClass: 1,
            logitScale: Float(model.config.logitScale))
        let (imageEmbedding, rec) = try model.vision.forward(pixels: image.pixels, batch: 1)
        let scores = classifier.score(imageEmbedding: imageEmbedding)
        _ = e.handle(.char("4"))
        let lines = e.frame(width: 80, height: 24).lines
        for c in 0..<prompts.count {
            let expected = String(format: "%+.3f %.2f", scores.cosines[c], scores.probabilities[c])
            XCTAssertTrue(lines.contains { $0.contains(expected) }, "class \(c): \(expected) not on screen")
        }
        let energy = try EnergyAccounting.vision(rec, config: model.config, item: 0)
        _ = e.handle(.char("5"))
        let energyText = e.frame(width: 80, height: 24).lines.joined(separator: "\n")
        XCTAssertTrue(energyText.contains("SNN \(formatEnergy(picojoules: energy.totalPJ(.paper)))"), energyText)
        _ = e.handle(.char("u"))
        XCTAssertTrue(e.frame(width: 80, height: 24).lines.joined().contains("SNN \(formatEnergy(picojoules: energy.totalPJ(.fuller)))"))
        // Text side: one line with the mean per class (each class summed over its templates) and the extremes.
        let a = try XCTUnwrap(e.analysis)
        let perClass = a.textEnergy.map { $0.totalPJ(.fuller) }  // one template per class in the fixture
        let textLine = try XCTUnwrap(e.frame(width: 200, height: 24).lines.first { $0.contains("text per class") })
        XCTAssertTrue(textLine.contains("mean \(formatEnergy(picojoules: perClass.reduce(0, +) / Double(perClass.count)))"), textLine)
        XCTAssertTrue(textLine.contains("max \(formatEnergy(picojoules: perClass.max()!))"), textLine)
        // The status line compares both sides in the same convention.
        let ann = EnergyAccounting.annVision(config: model.config)!
        let status = try XCTUnwrap(e.frame(width: 240, height: 24).lines.last)  // wide: the fixture's class names are long
        XCTAssertTrue(status.contains("\(formatEnergy(picojoules: energy.totalPJ(.fuller))) vs \(formatEnergy(picojoules: ann.totalPJ(.fuller)))"), status)
    }

    /// While typing, the edit line shows the same worst case over the templates as the list shows after Enter.
    func testEditLineCountsTokensLikeTheList() throws {
        let e = try makeExplorer()
        for key: [Key] in [[.char("m"), .char("a")], Array("{} 1 1 1 1 1".map { Key.char($0) }), [.enter, .char("m"), .char("a")],
                           Array("5 6".map { Key.char($0) })] {
            for k in key { _ = e.handle(k) }
        }
        XCTAssertTrue(e.state.ensemble)
        XCTAssertEqual(e.state.templates.count, 2)
        let l = try XCTUnwrap(e.analysis).prompts.isEmpty ? 0 : 20
        let editing = e.frame(width: 80, height: 24).lines.joined(separator: "\n")
        // "5 6" in the longer template is 7 token ids.
        XCTAssertTrue(editing.contains("7/\(l) tokens"), editing)
        _ = e.handle(.enter)
        e.settle()
        let listed = e.frame(width: 80, height: 24).lines.first { $0.contains("> 5 6 ") } ?? ""
        XCTAssertTrue(listed.contains("[7/\(l)]"), listed)
    }

    /// More classes than rows in the ANN vs SNN table: rows scroll with j/k and the hidden count is shown.
    func testCompareTableScrollsWhenClassesDoNotFit() throws {
        let e = try makeExplorer()
        for i in 0..<8 {
            _ = e.handle(.char("a"))
            for c in "\(i + 3) 4" { _ = e.handle(.char(c)) }
            _ = e.handle(.enter)
        }
        e.settle()
        let names = e.state.classNames
        XCTAssertEqual(names.count, 11)
        func compareText() -> String { e.frame(width: 120, height: 40).lines.joined(separator: "\n") }
        XCTAssertTrue(compareText().contains("0 above, 2 below (j/k scroll)"), compareText())
        _ = e.handle(.char("4"))
        for _ in 0..<5 { _ = e.handle(.char("j")) }
        let scrolled = compareText()
        XCTAssertTrue(scrolled.contains("2 above, 0 below (j/k scroll)"), scrolled)
        XCTAssertTrue(scrolled.contains(String(names[10].prefix(12))), "the last class is reachable")
    }

    /// Opening a file in the directory browser shows it beside the listing.
    func testDirectoryBrowserShowsTheOpenedImage() throws {
        let e = try makeExplorer()
        e.state.source = .directory
        e.state.directory = assetsDir + "/images"
        e.browse(".")
        e.settle()
        e.state.focus = .image
        while e.state.directoryEntries[e.state.directorySelection].name != "coat_0006.png" { _ = e.handle(.char("j")) }
        _ = e.handle(.enter)
        e.settle()
        let lines = e.frame(width: 80, height: 24).lines
        XCTAssertTrue(lines[1].contains("Enter:open"), lines[1])
        let screen = lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("> coat_0006.png"), "the listing stays: \(screen)")
        XCTAssertEqual(e.image?.title, "coat_0006.png")
        // Right half: the opened file's title beside the listing, and the models' top-1.
        XCTAssertTrue(lines.contains { $0.dropFirst(40).contains("coat_0006.png") }, screen)
        XCTAssertTrue(lines.contains { $0.dropFirst(40).contains("SNN: ") }, screen)
    }

    /// A second checkpoint loaded from inside the explorer (issue 17): `o` in ANN vs SNN opens the directory browser,
    /// Enter on a `.safetensors` loads it in the background; its columns equal a direct analysis; `b` switches back to
    /// the ANN's, `O` closes it; a broken file is one line in the status and changes nothing.
    func testCompareCheckpointLoadsFromTheDirectoryBrowser() throws {
        let e = try makeExplorer()
        e.focus(.compare)
        _ = e.handle(.char("o"))
        XCTAssertEqual(e.state.focus, .image)
        XCTAssertEqual(e.state.source, .directory)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spikeclip-compare-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("not a checkpoint".utf8).write(to: folder.appendingPathComponent("broken.safetensors"))
        try Data().write(to: folder.appendingPathComponent("notes.txt"))
        e.state.directory = folder.path
        e.browse(".")
        e.settle()
        XCTAssertEqual(e.state.directoryEntries.map(\.name), ["..", "broken.safetensors"], "checkpoints are listed, other files not")
        XCTAssertTrue(e.frame(width: 80, height: 24).lines.joined().contains("broken.safetensors (compare)"))
        // A broken file: one line, nothing compared.
        _ = e.handle(.char("j"))
        _ = e.handle(.enter)
        e.settle()
        XCTAssertTrue(e.state.message?.hasPrefix("cannot compare: ") == true && e.state.message?.contains("broken.safetensors") == true, e.state.message ?? "")
        XCTAssertNil(e.analysis?.compared)
        // The converted official fixture (3x32x32, CLIP BPE) beside the token-id fixture.
        let second = root.appendingPathComponent("Tests/Fixtures/official-import/model.safetensors").path
        e.state.directory = (second as NSString).deletingLastPathComponent
        e.browse(".")
        e.settle()
        while e.state.directoryEntries[e.state.directorySelection].name != "model.safetensors" { _ = e.handle(.char("j")) }
        _ = e.handle(.enter)
        XCTAssertTrue(e.state.message?.hasPrefix("loading official-import/model.safetensors") == true, e.state.message ?? "")
        e.settle()
        let a = try XCTUnwrap(e.analysis)
        let c = try XCTUnwrap(a.compared)
        XCTAssertNil(c.error)
        XCTAssertEqual(c.name, "official-import/model.safetensors")
        let side = try ExplorerSession.comparisonSide(checkpoint: second, assets: assetsDir)
        var request = try XCTUnwrap(e.job()).request(try XCTUnwrap(e.image))
        request.image = side.catalog.input(from: try XCTUnwrap(e.image?.decoded), title: "", label: nil)
        let direct = try side.provider.analyze(request)
        XCTAssertEqual(c.snn.cosines, direct.snn.cosines)
        e.focus(.compare)
        var frame = e.frame(width: 100, height: 30).lines.joined(separator: "\n")
        XCTAssertTrue(frame.contains("2nd cos bar") && frame.contains("2nd-1st"), frame)
        let k = a.snn.top1
        XCTAssertTrue(frame.contains(String(format: "  %+.3f", c.snn.cosines[k] - a.snn.cosines[k])), frame)
        _ = e.handle(.char("b"))
        frame = e.frame(width: 100, height: 30).lines.joined(separator: "\n")
        XCTAssertTrue(frame.contains("ANN cos bar") && !frame.contains("2nd-1st"), frame)
        _ = e.handle(.char("O"))
        e.settle()
        XCTAssertNil(e.analysis?.compared)
        XCTAssertEqual(e.state.message, "closed official-import/model.safetensors")
        _ = e.handle(.char("O"))
        XCTAssertEqual(e.state.message, "no second checkpoint to close")
    }

    func testEditingAddsPromptAndNeverInsertsControlCharacters() throws {
        let e = try makeExplorer()
        let before = e.state.classNames.count
        let generation = e.state.generation
        for key: Key in [.char("a"), .char("1"), .char(" "), .char("\u{1B}"), .char("\u{07}"), .char("2"), .enter] { _ = e.handle(key) }
        XCTAssertEqual(e.state.classNames.count, before + 1)
        XCTAssertEqual(e.state.classNames.last, "1 2")
        XCTAssertGreaterThan(e.state.generation, generation)
        e.settle()
        XCTAssertEqual(e.analysis?.classNames.count, before + 1)
        // Escape cancels an edit without changing anything.
        for key: Key in [.char("a"), .char("9"), .escape] { _ = e.handle(key) }
        XCTAssertEqual(e.state.classNames.count, before + 1)
    }

    func testSpikesPanelKeysChangeLayerStepAndView() throws {
        let e = try makeExplorer()
        _ = e.handle(.char("3"))
        XCTAssertTrue(e.frame(width: 80, height: 24).lines[2].contains("1/13 vision.patch_embed.block1_lif"))
        _ = e.handle(.char("]"))
        _ = e.handle(.char("."))
        let lines = e.frame(width: 80, height: 24).lines
        XCTAssertTrue(lines[2].contains("2/13 vision.patch_embed.block2_lif"), lines[2])
        XCTAssertTrue(lines[3].contains("step 2/4"), lines[3])
        _ = e.handle(.char("v"))
        XCTAssertTrue(e.frame(width: 80, height: 24).lines[3].contains("view: spatial map"))
        for _ in 0..<2 { _ = e.handle(.char("v")) }
        e.settle()
        let membrane = e.frame(width: 80, height: 24).lines.joined(separator: "\n")
        XCTAssertTrue(membrane.contains("neuron 0 (+/-): h[t]"), membrane)
        XCTAssertTrue(membrane.contains("t = 1..4 across  o h[t]  * spike"), "legend: \(membrane)")
    }

    func testTextLayersShowThePromptChosenWithN() throws {
        let e = try makeExplorer()
        let a = try XCTUnwrap(e.analysis)
        _ = e.handle(.char("3"))
        let vision = a.visionRecording.layers.count
        for _ in 0..<vision { _ = e.handle(.char("]")) }
        let name = try XCTUnwrap(a.textRecording.layers.first).name
        let layer = try XCTUnwrap(a.textRecording[name])
        let k = a.prompts.count
        XCTAssertGreaterThan(k, 2)
        func header() -> (String, String) { let l = e.frame(width: 80, height: 24).lines; return (l[2], l[3]) }
        XCTAssertTrue(header().1.contains("prompt 1/\(k) (n/N): \(a.prompts[0].text.prefix(12))"), header().1)
        _ = e.handle(.char("n"))
        var (title, sub) = header()
        XCTAssertTrue(sub.contains("prompt 2/\(k) (n/N): \(a.prompts[1].text.prefix(12))"), sub)
        XCTAssertTrue(title.contains(String(format: "rate %.1f%%", layer.firingRate(item: 1) * 100)), title)
        // The raster shows prompt 2's spikes: the first neuron row's step cells equal the recording's.
        _ = e.handle(.char("N"))
        _ = e.handle(.char("N"))
        (title, sub) = header()
        XCTAssertTrue(sub.contains("prompt \(k)/\(k) (n/N)"), "N wraps to the last prompt: \(sub)")
        XCTAssertTrue(title.contains(String(format: "rate %.1f%%", layer.firingRate(item: k - 1) * 100)), title)
        // The image's layers ignore the prompt choice.
        _ = e.handle(.char("["))
        XCTAssertEqual(e.state.textPrompt, k - 1)
        XCTAssertTrue(header().1.hasSuffix("image") || header().1.contains(" image "), header().1)
    }

    /// Membrane traces of text-encoder neurons, for the prompt chosen with n/N, equal a direct engine call.
    func testTextLayerMembraneTraceFollowsTheChosenPrompt() throws {
        let e = try makeExplorer()
        let a = try XCTUnwrap(e.analysis)
        let name = try XCTUnwrap(a.textRecording.layers.last).name
        _ = e.handle(.char("3"))
        for _ in 0..<(a.visionRecording.layers.count + a.textRecording.layers.count) { _ = e.handle(.char("]")) }
        for _ in 0..<3 { _ = e.handle(.char("v")) }
        XCTAssertEqual(e.state.spikeView, .membrane)
        _ = e.handle(.char("n"))
        _ = e.handle(.char("+"))
        e.settle()
        let layer = try XCTUnwrap(e.analysis?.textRecording[name])
        let n = layer.neuronsPerItem
        let trace = try XCTUnwrap(layer.membrane[1 * n + 1], "prompt 2, neuron 1")
        // The engine directly: prompt 2's neuron 1 is flat index n + 1 of the per-step [P, n] tensor.
        let model = try SpikeCLIPModel(path: fixtureCheckpoint)
        let provider = try fixtureProvider()
        let ids = try a.prompts.map { try provider.pipeline.tokenize($0.text).ids }
        let (_, rec) = try model.text.forward(tokenIds: ids, options: RecordingOptions(spikes: true, membrane: [name: [n + 1]]))
        XCTAssertEqual(trace, try XCTUnwrap(rec[name]?.membrane[n + 1]))
        let screen = e.frame(width: 80, height: 24).lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("prompt 2/\(a.prompts.count)"), screen)
        XCTAssertTrue(screen.contains("neuron 1 (+/-): h[t] " + trace.map { String(format: "%.3f", $0) }.joined(separator: " ")), screen)
    }

    /// A 28x28 spatial map does not fit 80x24: it is pooled 2x2, and the pooled counts add up to the layer's spikes.
    func testSpatialMapIsPooledToFitAndKeepsEverySpike() throws {
        let e = try makeExplorer()
        let a = try XCTUnwrap(e.analysis)
        _ = e.handle(.char("3"))
        _ = e.handle(.char("v"))
        let lines = e.frame(width: 80, height: 24).lines
        let screen = lines.joined(separator: "\n")
        XCTAssertTrue(screen.contains("grid 28x28") && screen.contains("shown pooled 2x2"), screen)
        let layer = try XCTUnwrap(a.visionRecording.layers.first)
        let channels = layer.shape[2]
        let maxCount = (0..<(14 * 14)).map { cell -> Int in
            let (py, px) = (cell / 14, cell % 14)
            var n = 0
            let s = layer.spikes(step: 0, item: 0)
            for c in 0..<channels { for dy in 0..<2 { for dx in 0..<2 { n += Int(s[s.startIndex + c * 784 + (2 * py + dy) * 28 + 2 * px + dx]) } } }
            return n
        }.max()
        XCTAssertTrue(screen.contains("max here: \(try XCTUnwrap(maxCount)) of \(channels * 4)"), screen)
    }

    /// The raster's neuron range stays whole at the minimum width, on the side of the step marker with room.
    func testRasterFooterIsNeverCutByTheStepMarker() throws {
        let e = try makeExplorer()
        _ = e.handle(.char("3"))
        for _ in 0..<5 { _ = e.handle(.char("j")) }  // scrolled: neurons 20-...
        for step in 0..<4 {
            let lines = e.frame(width: ExplorerView.minimumSize.width, height: ExplorerView.minimumSize.height).lines
            let bottom = lines[lines.count - 3]
            XCTAssertNotNil(bottom.range(of: #"(^|[ |│])20-\d+/3136 by index"#, options: .regularExpression), "step \(step + 1): \(bottom)")
            _ = e.handle(.char("."))
        }
    }

    /// At the minimum size: the end of a long entry stays visible while typing, the list says where the cursor is,
    /// and the ANN vs SNN summary keeps every number.
    func testNarrowScreensKeepWhatMatters() throws {
        let e = try makeExplorer(glyphs: .braille)
        _ = e.handle(.char("a"))
        let long = (1...40).map(String.init).joined(separator: " ")
        for c in long { _ = e.handle(.char(c)) }
        let (w, h) = ExplorerView.minimumSize
        let editing = e.frame(width: w, height: h).lines.joined(separator: "\n")
        XCTAssertTrue(editing.contains("37 38 39 40_"), editing)
        XCTAssertTrue(editing.contains("edit> …"), editing)
        _ = e.handle(.escape)
        _ = e.handle(.char("j"))
        XCTAssertTrue(e.frame(width: w, height: h).lines[2].contains("Class prompts 2/3"), e.frame(width: w, height: h).lines[2])
        _ = e.handle(.char("4"))
        let a = try XCTUnwrap(e.analysis)
        let summary = e.frame(width: w, height: h).lines[2]
        XCTAssertTrue(summary.contains(String(format: "img cos %.3f", a.imageCosine ?? .nan)), summary)
        XCTAssertTrue(summary.contains(String(format: "KL %.3f", try XCTUnwrap(a.klANNtoSNN))), summary)
    }

    func testLayerStepHeatmapHasAxesAndLegend() throws {
        let e = try makeExplorer()
        _ = e.handle(.char("3"))
        for _ in 0..<2 { _ = e.handle(.char("v")) }
        let lines = e.frame(width: 80, height: 24).lines
        XCTAssertTrue(lines[3].contains("view: layer x step rates"), lines[3])
        XCTAssertTrue(lines[4].contains("layer \\ step ") && lines[4].contains(" 1  2  3  4    mean"), lines[4])
        // Each layer row ends with its mean rate over the steps.
        XCTAssertNotNil(lines[5].range(of: #"\d+\.\d%"#, options: .regularExpression), lines[5])
        XCTAssertTrue(lines[21].contains("rate: ' ' 0"), lines[21])
    }

    func testTabBarKeepsHelpHintAndFocusedNameDownToTheMinimumWidth() throws {
        let e = try makeExplorer()
        _ = e.handle(.char("4"))
        let wide = e.frame(width: 120, height: 40).lines[0]
        XCTAssertTrue(wide.hasPrefix("SpikeCLIP "), wide)
        for p in PanelID.allCases { XCTAssertTrue(wide.contains("\(p.rawValue + 1) \(p.title)"), wide) }
        // At 80 columns every name while the full bar fits (six panels), else the focused one with the others' digits.
        let normal = e.frame(width: 80, height: 24).lines[0]
        let full = PanelID.allCases.reduce(0) { $0 + $1.title.count + 4 } + " ?:help q:quit".count
        for p in PanelID.allCases where full <= 80 || p == .compare { XCTAssertTrue(normal.contains("\(p.rawValue + 1) \(p.title)"), normal) }
        if full > 80 { XCTAssertTrue(normal.contains(" 1  2  3 [4 ANN vs SNN]"), normal) }
        XCTAssertTrue(normal.hasSuffix("?:help q:quit"), normal)
        let narrow = e.frame(width: ExplorerView.minimumSize.width, height: ExplorerView.minimumSize.height).lines[0]
        XCTAssertTrue(narrow.contains("[4 ANN vs SNN]"), narrow)
        XCTAssertTrue(narrow.contains(" 1  2  3 "), narrow)
        XCTAssertTrue(narrow.hasSuffix("?:help q:quit"), narrow)
    }

    /// Editing one class prompt re-embeds only its prompts with the ANN text model; the scores equal an uncached run.
    func testANNTextEmbeddingsAreCachedPerPrompt() throws {
        final class Calls: @unchecked Sendable {
            let lock = NSLock()
            var batches: [[String]] = []
            func record(_ p: [String]) { lock.lock(); batches.append(p); lock.unlock() }
        }
        let calls = Calls()
        let model = try SpikeCLIPModel(path: fixtureCheckpoint)
        let dim = model.config.text.targetDim
        // A deterministic stand-in for MiniLM: a vector from the prompt's characters.
        let encode = FakeANNText { prompts in
            calls.record(prompts)
            return prompts.map { p in (0..<dim).map { i in Float((p.unicodeScalars.reduce(7) { $0 &* 31 &+ Int($1.value) } &+ i * 17) % 23) - 11 } }
        }
        let cached = try fixtureProvider(annText: encode)
        let e = try makeExplorer()
        let image = try XCTUnwrap(e.image)
        let classes = e.state.classNames
        func request(_ names: [String], _ g: Int) -> AnalysisRequest {
            AnalysisRequest(generation: g, classNames: names, templates: ["{}"], ensemble: true, image: image, membrane: [:])
        }
        _ = try cached.analyze(request(classes, 1))
        XCTAssertEqual(calls.batches, [classes])
        let edited = classes + ["5 6 7"]
        let a = try cached.analyze(request(edited, 2))
        XCTAssertEqual(calls.batches.last, ["5 6 7"], "only the new prompt is embedded")
        XCTAssertEqual(calls.batches.count, 2)
        let fresh = try fixtureProvider(annText: encode).analyze(request(edited, 3))
        XCTAssertEqual(a.ann?.cosines, fresh.ann?.cosines)
        XCTAssertEqual(a.textCosines, fresh.textCosines)
        // A model that returns too few rows is a one-line error, not a crash.
        let broken = try fixtureProvider(annText: FakeANNText { _ in [] })
        XCTAssertThrowsError(try broken.analyze(request(classes, 4))) { error in
            XCTAssertEqual("\(error)", "the ANN text model returned 0 embeddings for \(classes.count) prompts")
        }
    }

    /// Each list keeps its own selection: switching to the (shorter) template list and editing used to read past
    /// its end and crash.
    func testSwitchingListsKeepsEachSelection() throws {
        let e = try makeExplorer()
        XCTAssertEqual(e.state.templates.count, 1)
        for key: Key in [.char("j"), .char("j"), .char("j")] { _ = e.handle(key) }
        XCTAssertEqual(e.state.selectedClass, e.state.classNames.count - 1)
        _ = e.handle(.char("m"))
        XCTAssertEqual(e.state.selectedTemplate, 0)
        _ = e.handle(.char("e"))
        XCTAssertEqual(e.state.editBuffer, e.state.templates[0])
        _ = e.handle(.escape)
        _ = e.handle(.char("d"))  // the only template stays
        XCTAssertEqual(e.state.templates.count, 1)
        _ = e.handle(.char("m"))
        XCTAssertEqual(e.state.selectedClass, e.state.classNames.count - 1)
        // A selection left out of range by hand is clamped, never used as an index.
        e.state.selectedTemplate = 7
        _ = e.handle(.char("m"))
        _ = e.handle(.char("e"))
        XCTAssertEqual(e.state.editBuffer, e.state.templates[0])
    }

    /// Regression (fresh-user trial): behind the "Terminal too small" screen, j and d moved and deleted class prompts.
    func testKeysDoNothingWhileTheTerminalIsTooSmall() throws {
        let e = try makeExplorer()
        let before = (e.state.classNames, e.state.selectedClass, e.state.focus)
        _ = e.frame(width: 50, height: 12)
        for key: Key in [.char("j"), .char("j"), .char("d"), .char("3"), .tab, .char("?")] { XCTAssertTrue(e.handle(key)) }
        XCTAssertEqual(e.state.classNames, before.0)
        XCTAssertEqual(e.state.selectedClass, before.1)
        XCTAssertEqual(e.state.focus, before.2)
        XCTAssertFalse(e.state.showHelp)
        XCTAssertFalse(e.handle(.char("q")), "q still quits")
        _ = e.frame(width: 80, height: 24)
        XCTAssertTrue(e.handle(.char("j")))
        XCTAssertEqual(e.state.selectedClass, before.1 + 1, "keys act again at a usable size")
    }

    /// Interventions from the keyboard (issue 17): silence the Spikes panel's layer, see the change against the
    /// unmodified model in ANN vs SNN, Energy and Spikes, switch it off and remove it, see the numbers return.
    func testInterventionsChangeTheAnalysisAndComeBack() throws {
        let e = try makeExplorer()
        let before = try XCTUnwrap(e.analysis)
        XCTAssertNil(before.baseline)
        let q = "vision.block.0.attn.q_lif"
        e.focus(.spikes)
        while e.state.layerIndex < (e.analysis?.visionRecording.layers.firstIndex { $0.name == q } ?? 0) { _ = e.handle(.char("]")) }
        _ = e.handle(.char("x"))
        e.settle()
        let silenced = try XCTUnwrap(e.analysis)
        XCTAssertEqual(silenced.interventions, InterventionSet([Intervention(layer: q, action: .silence)]))
        let baseline = try XCTUnwrap(silenced.baseline)
        XCTAssertEqual(baseline.snn.cosines, before.snn.cosines, "the baseline is the unmodified model")
        XCTAssertNotEqual(silenced.snn.cosines, before.snn.cosines)
        XCTAssertEqual(silenced.visionRecording[q]?.spikes.reduce(0) { $0 + Int($1) }, 0)
        XCTAssertEqual(baseline.rates[q], before.visionRecording[q]?.firingRate(item: 0))
        e.focus(.compare)
        XCTAssertTrue(e.frame(width: 80, height: 24).lines.joined().contains("intervened SNN vs unmodified"))
        e.focus(.energy)
        XCTAssertTrue(e.frame(width: 120, height: 40).lines.joined().contains("vs unmodified"))
        e.focus(.spikes)
        XCTAssertTrue(e.frame(width: 80, height: 24).lines[2].contains("rate 0.0% (unmodified"), e.frame(width: 80, height: 24).lines[2])
        // Off, on again, then removed: the analysis returns to the unmodified one exactly.
        e.focus(.interventions)
        _ = e.handle(.char(" "))
        e.settle()
        XCTAssertNil(e.analysis?.baseline)
        XCTAssertEqual(e.analysis?.snn.cosines, before.snn.cosines)
        _ = e.handle(.char(" "))
        e.settle()
        XCTAssertNotNil(e.analysis?.baseline)
        _ = e.handle(.char("d"))
        e.settle()
        XCTAssertTrue(e.state.interventions.isEmpty)
        XCTAssertEqual(e.analysis?.snn.cosines, before.snn.cosines)
        // Targets from the traced neuron: its head inside a block, refused outside one; stopping early.
        _ = e.handle(.char("h"))
        XCTAssertEqual(e.state.interventions.last?.intervention.target, .head)
        e.focus(.spikes)
        while e.state.layerIndex > 0 { _ = e.handle(.char("[")) }
        e.focus(.interventions)
        _ = e.handle(.char("h"))
        XCTAssertEqual(e.state.message, "heads exist only inside a transformer block")
        _ = e.handle(.char("<"))
        e.settle()
        XCTAssertEqual(e.analysis?.interventions.steps, 3)
        let frame = e.frame(width: 80, height: 24).lines.joined(separator: "\n")
        XCTAssertTrue(frame.contains("stop after t = 3") && frame.contains("silence head 0 of \(q)"), frame)
        _ = e.handle(.char("x"))
        e.settle()
        XCTAssertEqual(e.analysis?.snn.cosines, before.snn.cosines)
    }

    /// The lesion view (issue 17): every spiking layer silenced alone, in the background, the drop of the top class
    /// equal to an analysis with that one intervention.
    func testLesionViewSilencesEachLayerAlone() throws {
        let e = try makeExplorer()
        let before = try XCTUnwrap(e.analysis)
        e.focus(.interventions)
        XCTAssertEqual(e.handle(.char("L")), true)
        e.settle()
        let l = try XCTUnwrap(e.state.lesion)
        XCTAssertTrue(l.finished)
        // Every layer, then every head of each block's attn_lif.
        let attn = e.provider.layerNames.filter { $0.hasSuffix(".attn.attn_lif") }
        XCTAssertFalse(attn.isEmpty)
        XCTAssertEqual(l.rows.map(\.layer), e.provider.layerNames + attn.flatMap { a in (0..<e.provider.attentionHeads).map { "\(a) head \($0)" } })
        XCTAssertEqual(l.topClass, before.snn.top1)
        XCTAssertEqual(l.baseProbability, before.snn.probabilities[before.snn.top1])
        let q = "vision.block.0.attn.q_lif"
        e.focus(.spikes)
        while e.state.layerIndex < (e.provider.layerNames.firstIndex(of: q) ?? 0) { _ = e.handle(.char("]")) }
        _ = e.handle(.char("x"))
        e.settle()
        let silenced = try XCTUnwrap(e.analysis)
        let row = try XCTUnwrap(l.rows.first { $0.layer == q })
        XCTAssertEqual(row.probability, silenced.snn.probabilities[before.snn.top1])
        XCTAssertEqual(row.drop, before.snn.probabilities[before.snn.top1] - row.probability)
        // A head row is the analysis with that one head silenced.
        _ = e.handle(.char("x"))
        e.settle()
        let headIV = Intervention(layer: attn[0], action: .silence, target: .head, index: 1)
        var request = try XCTUnwrap(e.job()).request(try XCTUnwrap(e.image))
        request.interventions = InterventionSet([headIV])
        let headed = try e.provider.analyze(request)
        XCTAssertEqual(l.rows.first { $0.layer == "\(attn[0]) head 1" }?.probability, headed.snn.probabilities[before.snn.top1])
        e.focus(.interventions)
        let frame = e.frame(width: 80, height: 24).lines
        XCTAssertTrue(frame[2].contains("lesion of an earlier input (r recomputes): p("), "the inputs changed since: \(frame[2])")
        // Sorted by drop (largest first), `o` for forward order; stale once the input changes.
        let shown = frame[4...].compactMap { line in e.provider.layerNames.first { line.contains($0 + " ") || line.hasSuffix($0 + " |") || line.contains($0 + "|") } }
        XCTAssertEqual(shown.first, l.rows.max { $0.drop < $1.drop }?.layer)
        _ = e.handle(.char("o"))
        XCTAssertTrue(e.frame(width: 80, height: 24).lines[4].contains(e.provider.layerNames[0]))
        // More rows than fit: the last row says so and j/k scroll to the heads at the end.
        let small = e.frame(width: 80, height: 16).lines.joined(separator: "\n")
        XCTAssertTrue(small.contains("0 above, "), small)
        for _ in 0..<l.rows.count { _ = e.handle(.char("j")) }
        let end = e.frame(width: 80, height: 16).lines.joined(separator: "\n")
        XCTAssertTrue(end.contains("\(attn[0]) head \(e.provider.attentionHeads - 1)") && end.contains(", 0 below"), end)
        for _ in 0..<l.rows.count { _ = e.handle(.char("k")) }
        XCTAssertTrue(e.frame(width: 80, height: 16).lines.joined().contains("0 above, "))
        _ = e.handle(.escape)
        XCTAssertFalse(e.state.showLesion)
    }

    /// `z` zooms the focused panel to the whole screen in the tiled layout (the lesion view's rows then fit), and
    /// back; the tiled layout shows the lesion view compact with the hint.
    func testZoomShowsTheFocusedPanelAlone() throws {
        let e = try makeExplorer()
        e.focus(.interventions)
        _ = e.handle(.char("L"))
        e.settle()
        let tiled = e.frame(width: 120, height: 40).lines
        XCTAssertTrue(tiled[0].contains("[7 Interventions]"))
        XCTAssertTrue(tiled.joined().contains("z:zoom") && tiled.joined().contains("Spikes"), tiled.joined(separator: "\n"))
        _ = e.handle(.char("z"))
        let zoomed = e.frame(width: 120, height: 40).lines.joined(separator: "\n")
        XCTAssertFalse(zoomed.contains("┌ Spikes") || zoomed.contains("+ Spikes"), zoomed)
        for row in try XCTUnwrap(e.state.lesion).rows { XCTAssertTrue(zoomed.contains(row.layer), "zoomed, every row fits: \(row.layer)") }
        _ = e.handle(.char("z"))
        XCTAssertTrue(e.frame(width: 120, height: 40).lines.joined().contains("Spikes  [/]"))
    }

    /// `+` and `-` on a layer with a threshold entry change that entry (x1.25 twice is x1.5625; back to x1 removes
    /// it) instead of stacking entries (issue 17).
    func testThresholdKeysMultiplyIntoOneEntry() throws {
        let e = try makeExplorer()
        let before = try XCTUnwrap(e.analysis)
        e.focus(.spikes)
        _ = e.handle(.char("]"))
        let layer = e.selectedLayer.name
        e.focus(.interventions)
        _ = e.handle(.char("+"))
        _ = e.handle(.char("+"))
        XCTAssertEqual(e.state.interventions.count, 1)
        XCTAssertEqual(e.state.interventions[0].intervention, Intervention(layer: layer, action: .threshold, scale: 1.5625))
        e.settle()
        XCTAssertEqual(e.analysis?.interventions, InterventionSet([Intervention(layer: layer, action: .threshold, scale: 1.5625)]))
        _ = e.handle(.char("-"))
        XCTAssertEqual(e.state.interventions[0].intervention.scale, 1.25, accuracy: 1e-12)
        _ = e.handle(.char("-"))
        XCTAssertTrue(e.state.interventions.isEmpty, "x1.25 then x0.8 is x1: the entry goes")
        e.settle()
        XCTAssertEqual(e.analysis?.snn.cosines, before.snn.cosines)
        // A switched-off entry is left alone: the next key adds a new one (an identical one is switched back on).
        _ = e.handle(.char("+"))
        _ = e.handle(.char(" "))
        _ = e.handle(.char("-"))
        XCTAssertEqual(e.state.interventions.map(\.enabled), [false, true])
        XCTAssertEqual(e.state.interventions.map(\.intervention.scale), [1.25, 0.8])
    }

    /// The sweep view (issue 17): the image on screen over T = 1...T and over the threshold scale; the T = T and x1
    /// points are the unmodified analysis.
    func testSweepViewOverStepsAndThreshold() throws {
        let e = try makeExplorer()
        let a = try XCTUnwrap(e.analysis)
        let p = a.snn.probabilities[a.snn.top1]
        e.focus(.interventions)
        _ = e.handle(.char("S"))
        e.settle()
        let t = try XCTUnwrap(e.state.lesion)
        XCTAssertEqual(t.kind, .steps)
        XCTAssertEqual(t.rows.map(\.layer), ["1", "2", "3", "4"])
        XCTAssertEqual(t.rows.last?.probability, p)
        XCTAssertEqual(t.rows.last?.energyPJ, a.visionEnergy.totalPJ(.paper))
        XCTAssertEqual(t.rows.map(\.energyPJ), t.rows.map(\.energyPJ).sorted(), "energy grows with the steps run")
        XCTAssertTrue(e.frame(width: 80, height: 24).lines.joined().contains("sweep over time steps run"))
        _ = e.handle(.char("S"))
        e.settle()
        let th = try XCTUnwrap(e.state.lesion)
        XCTAssertEqual(th.kind, .threshold)
        XCTAssertEqual(th.rows.first { $0.layer == "1" }?.probability, p)
        XCTAssertTrue(e.frame(width: 80, height: 24).lines.joined().contains("threshold scale"))
        _ = e.handle(.char("S"))
        XCTAssertFalse(e.state.showLesion, "S after the threshold sweep goes back to the list")
    }

    /// Two checkpoints side by side (`--compare`, issue 17): the second's scores on the same image (its own
    /// preprocessing, here 3x32x32 beside the default's 1x28x28) and prompts (its own tokenizer) equal a direct
    /// analysis, and ANN vs SNN, Energy and Spikes name it with the differences.
    func testCompareShowsTheSecondCheckpoint() throws {
        let first = root.appendingPathComponent("assets/checkpoints/default.safetensors").path
        let second = root.appendingPathComponent("Tests/Fixtures/official-import/model.safetensors").path
        let e = try ExplorerSession.make(checkpoint: first, assets: assetsDir, glyphs: .ascii, compare: second)
        e.settle()
        let a = try XCTUnwrap(e.analysis)
        let c = try XCTUnwrap(a.compared)
        XCTAssertNil(c.error)
        XCTAssertEqual(c.name, "official-import/model.safetensors")
        let bundle = try CheckpointBundle(checkpoint: second, assets: assetsDir)
        let pipeline = SpikeCLIPPipeline(bundle: bundle)
        let image = try XCTUnwrap(e.image?.decoded)
        let text = try pipeline.encodeText(PromptSet(classes: e.state.classNames, templates: e.state.templates))
        let direct = try pipeline.analyze(images: [pipeline.prepare(image)], text: text)
        XCTAssertEqual(c.snn.cosines, direct.images[0].snn?.cosines)
        XCTAssertEqual(c.visionEnergy, direct.images[0].energy)
        e.focus(.compare)
        XCTAssertTrue(e.frame(width: 80, height: 24).lines[3].contains("official-import/model.safetensors: SNN top-1"), e.frame(width: 80, height: 24).lines[3])
        e.focus(.energy)
        XCTAssertTrue(e.frame(width: 80, height: 24).lines.joined().contains("% vs this"))
        e.focus(.spikes)
        XCTAssertTrue(e.frame(width: 120, height: 40).lines.joined().contains("rate 12.8% (official-import/") || e.frame(width: 120, height: 40).lines.joined().contains("% (official-import/"))
        XCTAssertThrowsError(try ExplorerSession.make(checkpoint: first, assets: assetsDir, glyphs: .ascii, compare: "/nonexistent.safetensors")) {
            XCTAssertEqual("\($0)", "/nonexistent.safetensors: no such checkpoint file")
        }
    }

    func testHelpOverlayAndQuit() throws {
        let e = try makeExplorer()
        _ = e.handle(.char("?"))
        XCTAssertTrue(e.frame(width: 80, height: 40).lines.joined().contains("Letters work everywhere"))
        // Every help line is shown whole in the minimum terminal, scrolling with j when there are more lines than rows.
        var seen = ""
        for _ in 0..<ExplorerView.helpLines.count {
            seen += e.frame(width: ExplorerView.minimumSize.width, height: ExplorerView.minimumSize.height).lines.joined(separator: "\n")
            _ = e.handle(.char("j"))
        }
        for line in ExplorerView.helpLines { XCTAssertTrue(seen.contains(line), "cut at 60x16: \(line)") }
        XCTAssertTrue(e.state.showHelp, "j scrolls the help, it does not close it")
        _ = e.handle(.char("x"))
        XCTAssertFalse(e.frame(width: 80, height: 24).lines.joined().contains("Letters work everywhere"))
        XCTAssertFalse(e.handle(.char("q")))
    }

    func testEventLoopRunsAgainstMemoryTerminalAndStopsOnSignal() throws {
        let e = try makeExplorer()
        let terminal = MemoryTerminal(width: 80, height: 24, keys: [.tab, .char("?"), .char("x"), .char("q")])
        e.run(on: terminal)
        XCTAssertGreaterThanOrEqual(terminal.frames.count, 3)
        XCTAssertTrue(terminal.keys.isEmpty)
        let signalled = MemoryTerminal(width: 80, height: 24)
        signalled.signal = 15
        e.run(on: signalled)
        XCTAssertTrue(signalled.frames.isEmpty, "a pending SIGTERM ends the loop before drawing")
    }

    func testCutTextEndsInAMarkThatASCIITerminalsCanDraw() throws {
        XCTAssertEqual(fit("abcdef", 4), "abc…")
        XCTAssertEqual(fit("abcd", 4), "abcd")
        XCTAssertEqual(fit("ab", 4), "ab  ")
        XCTAssertEqual(fit("abc", 1), "a")
        let e = try makeExplorer(glyphs: .ascii)
        _ = e.handle(.char("6"))  // the fixture's long token-id class names are cut in the anytime lines
        let ascii = e.frame(width: 80, height: 24).lines.joined(separator: "\n")
        XCTAssertFalse(ascii.contains("…"), "the ellipsis is not ASCII")
        XCTAssertTrue(ascii.contains("~|"), ascii)
        // Started in ASCII, g keeps ASCII (the terminal may not draw anything else) and says so.
        _ = e.handle(.char("g"))
        XCTAssertEqual(e.state.glyphs, .ascii)
        XCTAssertTrue(e.frame(width: 80, height: 24).lines.last?.contains("ASCII only") ?? false)
        let unicode = try makeExplorer(glyphs: .braille)
        _ = unicode.handle(.char("6"))
        XCTAssertTrue(unicode.frame(width: 80, height: 24).lines.joined().contains("…"))
        for expected in [GlyphSet.halfBlocks, .ascii, .braille] {
            _ = unicode.handle(.char("g"))
            XCTAssertEqual(unicode.state.glyphs, expected)
        }
    }

    /// Controls become `?`; wide characters, emoji and accented letters are kept (drawn at their width).
    func testTerminalSafeReplacesControlsAndKeepsWideCharacters() {
        XCTAssertEqual(terminalSafe("a\u{1B}[31mb"), "a?[31mb")
        XCTAssertEqual(terminalSafe("猫 cat"), "猫 cat")
        XCTAssertEqual(terminalSafe("e\u{301}"), "e\u{301}")
        XCTAssertEqual(terminalSafe("🙂x"), "🙂x")
        XCTAssertEqual(terminalSafe("\u{301}x"), "?x")
        XCTAssertEqual(terminalSafe("plain"), "plain")
    }
}

final class ImageSourceTests: XCTestCase {
    func testFashionMNISTByTypedIndexShowsTrueLabel() throws {
        let e = try makeExplorer()
        _ = e.handle(.char("2"))
        _ = e.handle(.char("s"))  // demo -> Fashion-MNIST
        for key: Key in [.char("i"), .char("1"), .char("7"), .enter] { _ = e.handle(key) }
        e.settle()
        let image = try XCTUnwrap(e.image)
        XCTAssertEqual(image.title, "Fashion-MNIST test #17")
        let labels = try IDXFile(path: FashionMNIST.files(split: "test").labels)
        XCTAssertEqual(image.label, FashionMNIST.classes[try labels.label(at: 17)])
        XCTAssertTrue(e.frame(width: 80, height: 24).lines.joined().contains("Fashion-MNIST test #17  label: \(image.label!)"))
        // A typed index past the end is refused with a message (n/p still wrap around).
        let typing: [Key] = [.char("i")] + "99999".map { Key.char($0) } + [.enter]
        for key in typing { _ = e.handle(key) }
        e.settle()  // the worker checks the index against the set (its files are read off the input thread)
        XCTAssertEqual(e.state.fashionIndex, 17)
        XCTAssertEqual(e.image?.title, "Fashion-MNIST test #17")
        XCTAssertTrue(e.frame(width: 80, height: 24).lines.last?.hasPrefix("test index 99999 is out of range 0-9999") ?? false)
        _ = e.handle(.char("p"))
        XCTAssertEqual(e.state.fashionIndex, 16)
    }

    func testDirectoryBrowserListsImagesAndOpensOne() throws {
        let e = try makeExplorer()
        _ = e.handle(.char("2"))
        _ = e.handle(.char("s")); _ = e.handle(.char("s"))  // -> directory
        XCTAssertEqual(e.state.source, .directory)
        // Navigate from the repository root into assets/images and open the first PNG.
        e.state.directory = assetsDir
        _ = e.handle(.char("k"))
        e.browse("images"); e.settle()
        let names = e.state.directoryEntries.map(\.name)
        XCTAssertEqual(names.first, "..")
        XCTAssertTrue(names.contains("bag_0018.png"))
        XCTAssertFalse(names.contains("labels.json"), "only image files are listed")
        while e.state.directoryEntries[e.state.directorySelection].name != "bag_0018.png" { _ = e.handle(.char("j")) }
        _ = e.handle(.enter)
        e.settle()
        XCTAssertEqual(e.image?.title, "bag_0018.png")
    }
}

/// A stand-in ANN text model: `embed` maps the prompts' texts through `body`.
struct FakeANNText: ANNTextEncoding {
    let body: @Sendable ([String]) throws -> [[Float]]
    init(_ body: @escaping @Sendable ([String]) throws -> [[Float]]) { self.body = body }
    var name: String { "fake" }
    func embed(_ prompts: [TokenizedPrompt]) throws -> [[Float]] { try body(prompts.map(\.text)) }
}

/// The model-backed provider on the parity fixture, optionally with a stand-in ANN text model.
func fixtureProvider(annText: (any ANNTextEncoding)? = nil) throws -> ModelAnalysisProvider {
    let bundle = try CheckpointBundle(checkpoint: fixtureCheckpoint, assets: assetsDir)
    var parts = bundle.parts
    if let annText { parts.annText = annText }
    return ModelAnalysisProvider(pipeline: SpikeCLIPPipeline(bundle: bundle, parts: parts))
}
