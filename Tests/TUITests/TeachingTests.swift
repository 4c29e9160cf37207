import Foundation
import XCTest
@testable import SpikeCLIP
@testable import TUI
@testable import Visualize

/// Issue 18: config file, key remaps, `/` search, mouse, presenter mode, per-neuron statistics, session record and
/// replay, `--plain` key decoding.
final class TeachingTests: XCTestCase {
    let defaultCheckpoint = root.appendingPathComponent("assets/checkpoints/default.safetensors").path

    func temporaryFile(_ name: String, _ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spikeclip-teaching-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    // MARK: - config file

    func testConfigFileSetsEverySetting() throws {
        let path = try temporaryFile("config.toml", """
            theme = "light"
            glyphs = "half-blocks"
            mouse = true
            slow = true
            checkpoint = "~/runs/a.safetensors"
            image_dir = "/tmp"
            [keys]
            x = "q"
            J = "down"
            " " = "enter"
            """)
        let c = try ExplorerConfig.load(path: path, mustExist: true)
        XCTAssertEqual(c.theme, .light)
        XCTAssertEqual(c.glyphs, .halfBlocks)
        XCTAssertTrue(c.mouse)
        XCTAssertTrue(c.slow)
        XCTAssertEqual(c.checkpoint, (NSHomeDirectory() as NSString).appendingPathComponent("runs/a.safetensors"))
        XCTAssertEqual(c.imageDirectory, "/tmp")
        XCTAssertEqual(c.keys, ["x": .char("q"), "J": .down, " ": .enter])
    }

    /// Each bad file gives one line naming the file and, where there is one, the key; none crashes.
    func testBadConfigFilesNameTheFileAndTheKey() throws {
        let cases: [(text: String, mustContain: [String])] = [
            ("mouse = \"yes\"\n", ["mouse: expected true or false, got a string"]),
            ("theme = 3\n", ["theme: expected a string, got an integer"]),
            ("theme = \"blue\"\n", ["theme: expected one of dark, light, monochrome, got 'blue'"]),
            ("glyphs = [1]\n", ["glyphs: expected a string, got an array"]),
            ("colour = \"dark\"\n", ["colour: unknown key (known: theme"]),
            ("[keys]\nx = \"warp\"\n", ["keys.x: 'warp' is not a key"]),
            ("[keys]\nxy = \"q\"\n", ["keys.xy: only a one-character key can be remapped"]),
            ("keys = 1\n", ["keys: expected a table"]),
            ("theme = \n", [":1:", "invalid TOML"]),
            ("theme = \"dark\"\ntheme = \"light\"\n", [":2:", "invalid TOML"]),
            ("checkpoint = \"\"\n", ["checkpoint: expected a path"]),
        ]
        for (text, needles) in cases {
            let path = try temporaryFile("config.toml", text)
            XCTAssertThrowsError(try ExplorerConfig.load(path: path, mustExist: true), text) { error in
                let line = "\(error)"
                XCTAssertTrue(line.hasPrefix(path), "names the file: \(line)")
                for n in needles { XCTAssertTrue(line.contains(n), "'\(n)' in: \(line)") }
                XCTAssertFalse(line.contains("\n"), "one line: \(line)")
                XCTAssertTrue(line.contains("--no-config"), "says how to start anyway: \(line)")
            }
        }
        // Unreadable: a directory, bytes that are not UTF-8, a missing --config file, an oversized file.
        let dir = (try temporaryFile("x", "") as NSString).deletingLastPathComponent
        XCTAssertThrowsError(try ExplorerConfig.load(path: dir, mustExist: true)) { XCTAssertTrue("\($0)".contains("is a directory"), "\($0)") }
        let binary = (dir as NSString).appendingPathComponent("binary.toml")
        try Data([0xFF, 0xFE, 0x00, 0x41]).write(to: URL(fileURLWithPath: binary))
        XCTAssertThrowsError(try ExplorerConfig.load(path: binary, mustExist: true)) { XCTAssertTrue("\($0)".contains("not UTF-8"), "\($0)") }
        XCTAssertThrowsError(try ExplorerConfig.load(path: dir + "/missing.toml", mustExist: true)) { XCTAssertTrue("\($0)".contains("no such file"), "\($0)") }
        XCTAssertEqual(try ExplorerConfig.load(path: dir + "/missing.toml", mustExist: false), ExplorerConfig(), "a missing default file is no error")
        let big = try temporaryFile("big.toml", String(repeating: "# comment\n", count: 10_000))
        XCTAssertThrowsError(try ExplorerConfig.load(path: big, mustExist: true)) { XCTAssertTrue("\($0)".contains("larger than"), "\($0)") }
        // Control characters in a value never reach the terminal raw.
        let hostile = try temporaryFile("config.toml", "theme = \"\\u001b]0;owned\\u0007\"\n")
        XCTAssertThrowsError(try ExplorerConfig.load(path: hostile, mustExist: true)) { XCTAssertFalse("\($0)".unicodeScalars.contains { $0.value < 0x20 }, "\($0)") }
    }

    func testDefaultPathFollowsXDG() {
        XCTAssertEqual(ExplorerConfig.defaultPath(environment: ["XDG_CONFIG_HOME": "/x/cfg", "HOME": "/home/u"]), "/x/cfg/spikeclip/config.toml")
        XCTAssertEqual(ExplorerConfig.defaultPath(environment: ["XDG_CONFIG_HOME": "", "HOME": "/home/u"]), "/home/u/.config/spikeclip/config.toml")
        XCTAssertEqual(ExplorerConfig.defaultPath(environment: ["XDG_CONFIG_HOME": "relative", "HOME": "/home/u"]), "/home/u/.config/spikeclip/config.toml",
                       "a relative XDG_CONFIG_HOME is ignored, as the specification says")
        XCTAssertNil(ExplorerConfig.defaultPath(environment: [:]))
    }

    func testThemesGiveEveryRoleAStyle() {
        for theme in Theme.allCases {
            let styles = NcursesTerminal.styles(theme, colors: 256)
            XCTAssertEqual(Set(styles.keys), Set(ColorRole.allCases), "\(theme)")
        }
        let light = NcursesTerminal.styles(.light, colors: 256)
        XCTAssertTrue(light.values.allSatisfy { $0.bg == 15 && $0.pair > 0 }, "light paints its own white background behind every role")
        XCTAssertTrue(NcursesTerminal.styles(.monochrome, colors: 256).values.allSatisfy { $0.pair == 0 }, "monochrome uses no color pairs")
        XCTAssertEqual(NcursesTerminal.styles(.light, colors: 8)[.normal]?.bg, 7, "white, not bright white, on an 8-color terminal")
    }

    // MARK: - key remaps

    func testRemapActsAsTheOtherKeyButNeverWhileTyping() throws {
        let e = try makeExplorer()
        e.update { $0.keyMap = ["x": .char("q"), "J": .down] }
        _ = e.frame(width: 80, height: 24)
        XCTAssertTrue(e.handle(.char("J")))
        XCTAssertEqual(e.state.selectedClass, 1, "J acts as down")
        XCTAssertTrue(e.handle(.char("a")))
        XCTAssertTrue(e.handle(.char("x")), "typing a prompt: x is a letter, not q")
        XCTAssertEqual(e.state.editBuffer, "x")
        XCTAssertTrue(e.handle(.escape))
        XCTAssertFalse(e.handle(.char("x")), "x quits as q does")
    }

    // MARK: - search

    func testSearchSelectsMatchesAndStepsThroughThem() throws {
        var s = ExplorerState(classNames: ["T-shirt/top", "Coat", "Sandal", "Shirt", "coat rack"], templates: ["{}"], glyphs: .ascii, directory: "/")
        func key(_ k: Key) { _ = s.handle(k, layers: 1, steps: 4, neurons: 1) }
        key(.char("/"))
        for c in "coat" { key(.char(c)) }
        XCTAssertEqual(s.selectedClass, 1, "incremental: the first match as typed")
        key(.enter)
        XCTAssertEqual(s.search?.typing, false)
        XCTAssertTrue(s.message?.contains("match 1/2") == true, s.message ?? "")
        key(.char("n"))
        XCTAssertEqual(s.selectedClass, 4)
        key(.char("n"))
        XCTAssertEqual(s.selectedClass, 1, "wraps around")
        key(.char("N"))
        XCTAssertEqual(s.selectedClass, 4)
        key(.escape)
        XCTAssertNil(s.search)
        // Esc while typing goes back to where the search started; no match says so.
        key(.char("/"))
        key(.char("s"))
        key(.char("h"))
        XCTAssertEqual(s.selectedClass, 0, "T-shirt holds 'sh' (case ignored)")
        key(.escape)
        XCTAssertEqual(s.selectedClass, 4)
        key(.char("/"))
        for c in "zebra" { key(.char(c)) }
        key(.enter)
        XCTAssertNil(s.search)
        XCTAssertEqual(s.message, "no match for 'zebra'")
        // The template list when it is shown.
        s.templates = ["a photo of a {}.", "a sketch of {}"]
        key(.char("m"))
        key(.char("/"))
        for c in "sketch" { key(.char(c)) }
        key(.enter)
        XCTAssertEqual(s.selectedTemplate, 1)
    }

    func testSearchInLayersAndDirectory() throws {
        let e = try makeExplorer()
        _ = e.frame(width: 80, height: 24)
        e.focus(.spikes)
        for k in "/q_lif" { XCTAssertTrue(e.handle(.char(k))) }
        XCTAssertTrue(e.handle(.enter))
        let names = e.layerNames
        XCTAssertEqual(names[e.state.layerIndex], names.first { $0.contains("q_lif") })
        XCTAssertTrue(e.handle(.char("n")))
        XCTAssertEqual(names[e.state.layerIndex], names.filter { $0.contains("q_lif") }.dropFirst().first ?? names.first { $0.contains("q_lif") })
        // The directory browser.
        e.focus(.image)
        e.update { $0.directory = root.appendingPathComponent("assets/images").path; $0.source = .directory }
        e.browse(".")
        e.settle()
        let entries = e.state.directoryEntries.map(\.name)
        let wanted = try XCTUnwrap(entries.firstIndex { $0.lowercased().contains("sneaker") })
        for k in "/sneaker" { XCTAssertTrue(e.handle(.char(k))) }
        XCTAssertEqual(e.state.directorySelection, wanted)
        // Panels without a list say where search works.
        XCTAssertTrue(e.handle(.escape))
        e.focus(.energy)
        XCTAssertTrue(e.handle(.char("/")))
        XCTAssertTrue(e.state.message?.hasPrefix("/ searches") == true)
    }

    // MARK: - mouse

    func testMouseClicksTabsAndRowsAndWheelScrolls() throws {
        let e = try makeExplorer()
        _ = e.frame(width: 80, height: 24)
        let tabs = ExplorerView.tabBar(e.state, width: 80).tabs
        let energy = try XCTUnwrap(tabs.first { $0.id == .energy })
        XCTAssertTrue(e.handle(.mouse(MouseEvent(x: energy.x + 1, y: 0, kind: .press))))
        XCTAssertEqual(e.state.focus, .prompts, "the mouse is off by default")
        e.update { $0.mouse = true }
        XCTAssertTrue(e.handle(.mouse(MouseEvent(x: energy.x + 1, y: 0, kind: .press))))
        XCTAssertEqual(e.state.focus, .energy)
        _ = e.frame(width: 80, height: 24)
        let prompts = try XCTUnwrap(ExplorerView.tabBar(e.state, width: 80).tabs.first { $0.id == .prompts })
        XCTAssertTrue(e.handle(.mouse(MouseEvent(x: prompts.x, y: 0, kind: .press))))
        XCTAssertEqual(e.state.focus, .prompts)
        let frame = e.frame(width: 80, height: 24)
        // The third class's row: the box starts at row 1, its inside at row 2, the list one row lower.
        let row = 2 + 1 + 2
        XCTAssertTrue(frame.lines[row].contains(e.state.classNames[2]), frame.lines[row])
        XCTAssertTrue(e.handle(.mouse(MouseEvent(x: 10, y: row, kind: .press))))
        XCTAssertEqual(e.state.selectedClass, 2)
        XCTAssertNil(e.state.editBuffer)
        XCTAssertTrue(e.handle(.mouse(MouseEvent(x: 10, y: row, kind: .press))))
        XCTAssertEqual(e.state.editBuffer, e.state.classNames[2], "a press on the selected row acts as Enter (edit)")
        XCTAssertTrue(e.handle(.escape))
        XCTAssertTrue(e.handle(.mouse(MouseEvent(x: 10, y: 10, kind: .wheelUp))))
        XCTAssertEqual(e.state.selectedClass, 1, "the wheel scrolls as up does")
        XCTAssertTrue(e.handle(.mouse(MouseEvent(x: 10, y: 10, kind: .wheelDown))))
        XCTAssertEqual(e.state.selectedClass, 2)
        // Tiled: a press in another panel focuses it.
        let tiled = e.frame(width: 120, height: 40)
        let box = try XCTUnwrap(ExplorerView.layout(e.state, e.frameContext(), width: 120, height: 40).first { $0.id == .energy })
        XCTAssertEqual(tiled.width, 120)
        XCTAssertTrue(e.handle(.mouse(MouseEvent(x: box.x + 3, y: box.y + 2, kind: .press))))
        XCTAssertEqual(e.state.focus, .energy)
    }

    // MARK: - presenter mode

    func testPresenterShowsOnePanelExplainedAndNarratesTheStep() throws {
        let e = try ExplorerSession.make(checkpoint: defaultCheckpoint, assets: assetsDir, glyphs: .braille)
        e.showTimings = false
        e.settle()
        _ = e.frame(width: 80, height: 24)
        e.focus(.spikes)
        XCTAssertTrue(e.handle(.char("Z")))
        e.settle()
        let a = try XCTUnwrap(e.analysis)
        let layer = try XCTUnwrap(a.visionRecording[e.layerNames[0]])
        XCTAssertNotNil(layer.membrane[0], "presenting records the traced neuron's membrane potential")
        for (w, h) in [(80, 24), (120, 40)] {
            let lines = e.frame(width: w, height: h).lines
            XCTAssertTrue(lines[1].contains("S P I K E S"), lines[1])
            XCTAssertFalse(lines.contains { $0.contains("┌ Energy") }, "one panel at a time, also at \(w)x\(h)")
            let text = lines.joined(separator: "\n")
            XCTAssertTrue(text.contains("What this shows"))
            XCTAssertTrue(text.contains("LIF neuron: H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau;"), text)
            XCTAssertTrue(text.contains("t=1/\(layer.steps): "), text)
            XCTAssertTrue(lines.allSatisfy { displayWidth($0) == w })
        }
        // , and . step t in every panel; the narration follows with the layer's count at that step.
        e.focus(.energy)
        XCTAssertTrue(e.handle(.char(".")))
        XCTAssertEqual(e.state.step, 1)
        let narration = ExplorerView.narration(e.state, e.frameContext())
        XCTAssertTrue(narration.hasPrefix("t=2/\(layer.steps): "), narration)
        XCTAssertTrue(narration.contains("(\(layer.spikeCount(step: 1, item: 0)) of \(layer.neuronsPerItem) neurons"), narration)
        let energy = e.frame(width: 80, height: 24).lines.joined(separator: "\n")
        XCTAssertTrue(energy.contains("Counted, not measured"), energy)
        XCTAssertTrue(e.handle(.char("Z")))
        XCTAssertFalse(e.frame(width: 80, height: 24).lines.joined().contains("What this shows"))
    }

    func testEveryPanelExplainsItselfInTwoToFourSentences() throws {
        let e = try ExplorerSession.make(checkpoint: defaultCheckpoint, assets: assetsDir, glyphs: .braille)
        e.settle()
        for panel in ExplorerPanels.all {
            let lines = panel.explanation(e.state, e.frameContext())
            XCTAssertTrue((1...4).contains(lines.count), "\(panel.id): \(lines.count) sentences")
            XCTAssertTrue(lines.allSatisfy { $0.count > 20 }, "\(panel.id)")
        }
    }

    // MARK: - per-neuron statistics

    func testNeuronStatistics() {
        let s = NeuronStats(steps: 8, spikeTimes: [1, 2, 5])
        XCTAssertEqual(s.count, 3)
        XCTAssertEqual(s.rate, 3.0 / 8.0)
        XCTAssertEqual(s.intervals, [1, 3])
        XCTAssertEqual(s.summary, "3/8 steps spiked (rate 0.38), first at t=2, ISI 1 3")
        XCTAssertEqual(NeuronStats(steps: 4, spikeTimes: []).summary, "0/4 steps spiked (rate 0.00), silent")
    }

    func testSpikesPanelShowsTheTracedNeuronsStatistics() throws {
        let e = try makeExplorer()
        e.focus(.spikes)
        _ = e.frame(width: 80, height: 24)
        for _ in 0..<3 { XCTAssertTrue(e.handle(.char("+"))) }
        let a = try XCTUnwrap(e.analysis)
        let layer = try XCTUnwrap(a.visionRecording[e.layerNames[0]])
        let times = (0..<layer.steps).filter { layer.spikes(step: $0, item: 0)[layer.spikes(step: $0, item: 0).startIndex + 3] != 0 }
        let line = e.frame(width: 120, height: 24).lines[4]
        XCTAssertTrue(line.contains("neuron 3 (+/-): \(times.count)/\(layer.steps) steps spiked"), line)
    }

    // MARK: - record and replay

    /// A recorded 60-key session (keys, a mouse press, a resize) replays to identical frames.
    func testRecordedSessionReplaysToIdenticalFrames() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("session-\(UUID().uuidString).jsonl").path
        let keys: [Key] = [
            .char("j"), .char("j"), .char("a"), .char("5"), .char(" "), .char("6"), .char("7"), .enter, .char("t"), .tab,
            .char("n"), .char("n"), .char("p"), .char("3"), .char("]"), .char("]"), .char("."), .char("v"), .char("v"), .char("+"),
            .char("o"), .char("4"), .char("c"), .char("b"), .char("5"), .char("u"), .char("6"), .char("Z"), .char("."), .char(","),
            .char("Z"), .char("3"), .char("x"), .char("7"), .char(" "), .char(" "), .char("d"), .char("1"), .char("/"), .char("c"),
            .char("o"), .enter, .char("n"), .escape, .char("M"), .mouse(MouseEvent(x: 30, y: 0, kind: .press)), .char("g"), .char("?"), .char("j"), .char("x"),
            .char("z"), .char("3"), .char("["), .char("o"), .char("j"), .char("C"), .char("4"), .char("c"), .resize, .char("2"),
        ]
        XCTAssertEqual(keys.count, 60)
        let e = try makeExplorer(glyphs: .braille)
        let header = SessionRecord.Header(
            checkpoint: fixtureCheckpoint, checkpointSHA256: try sha256Hex(path: fixtureCheckpoint), assets: assetsDir, prompts: nil, templates: nil,
            compare: nil, glyphs: "braille", directory: e.state.directory, presenting: false, mouse: false, keys: [:], note: nil)
        e.recorder = try SessionRecorder(path: path, header: header)
        let cards = FileManager.default.temporaryDirectory.appendingPathComponent("cards-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: cards + "/spikeclip-card-1", withIntermediateDirectories: true)
        e.cardFolder = cards  // holds card 1 already: the record's card is number 2, and so is the replay's
        let terminal = MemoryTerminal(width: 80, height: 24, keys: keys)
        var resized = false
        e.run(on: terminal, shouldStop: {
            if terminal.keys.count == 2 && !resized { terminal.size = (120, 40); resized = true }  // the next key read is .resize
            return terminal.keys.isEmpty && terminal.frames.count == keys.count + 1
        })
        XCTAssertEqual(terminal.frames.count, 61, "the start and one frame per key")
        XCTAssertTrue(terminal.frames.contains { $0.width == 120 }, "the resize changed the size")
        let (read, events) = try SessionRecord.read(path)
        XCTAssertEqual(read, header)
        XCTAssertEqual(events.count, 61)
        XCTAssertEqual(events[0].input, "start")
        XCTAssertEqual(events.map(\.input).dropFirst().map { Key(name: $0) }, keys.map { Optional($0) })
        XCTAssertEqual(events[4].changed["edit"], "5", "the state changes are listed: the edit line after 'a', '5'")
        XCTAssertEqual(events[8].changed["classes"]?.hasSuffix("| 5 67"), true)
        XCTAssertTrue(FileManager.default.fileExists(atPath: cards + "/spikeclip-card-2/card.json"), "C wrote a card while recording")
        XCTAssertTrue(terminal.frames[56].lines.last?.contains("wrote probe card spikeclip-card-2/") == true, terminal.frames[56].lines.last ?? "")
        // The replay: a fresh explorer, the recorded inputs, every frame compared.
        let fresh = try ExplorerSession.make(checkpoint: read.checkpoint, assets: read.assets, glyphs: .braille)
        let frames = fresh.replay(events, size: nil)
        XCTAssertEqual(frames.count, 61)
        for (i, (recorded, replayed)) in zip(terminal.frames, frames).enumerated() {
            XCTAssertEqual(replayed.lines, recorded.lines, "frame \(i) (\(events[i].input))")
            XCTAssertEqual(SessionRecord.hash(replayed.lines), events[i].frameSHA256)
        }
    }

    /// `--slow`: keys are handled at once, frames coalesce (at most one per interval).
    func testSlowModeCoalescesFrames() throws {
        for (interval, most) in [(0, 31), (400, 3)] {
            let e = try makeExplorer()
            e.minFrameIntervalMS = interval
            let terminal = MemoryTerminal(width: 80, height: 24, keys: Array(repeating: .char("j"), count: 15) + Array(repeating: .char("k"), count: 15))
            let start = Date()
            e.run(on: terminal, shouldStop: { terminal.keys.isEmpty && Date().timeIntervalSince(start) > 0.5 })
            XCTAssertTrue(terminal.keys.isEmpty, "every key was handled")
            XCTAssertLessThanOrEqual(terminal.frames.count, most, "interval \(interval) ms")
            XCTAssertGreaterThanOrEqual(terminal.frames.count, 2)
            XCTAssertEqual(e.state.selectedClass, 0)
        }
    }

    func testBadRecordsAreRefusedWithTheirLine() throws {
        let header = #"{"assets":"a","checkpoint":"c","checkpoint_sha256":"0","directory":"/","format":"spikeclip-session","glyphs":"ascii","keys":{},"mouse":false,"presenting":false,"software":"x","version":1}"#
        let cases: [(String, String)] = [
            ("", "empty"),
            ("{\"format\":\"other\"}\n", ":1: not a spikeclip session record"),
            (header.replacingOccurrences(of: "\"version\":1", with: "\"version\":9") + "\n", "version 9"),
            (header + "\n{\"n\":0}\n", ":2: not a session event (missing"),
            (header + "\n{\"n\":0,\"input\":\"warp\",\"size\":[80,24],\"changed\":{}}\n", ":2: unknown input 'warp'"),
            (header + "\n{\"n\":0,\"input\":\"j\",\"size\":[0,24],\"changed\":{}}\n", ":2: size must be"),
            (header + "\nnot json\n", ":2: not a session event"),
        ]
        for (text, needle) in cases {
            let path = try temporaryFile("r.jsonl", text)
            XCTAssertThrowsError(try SessionRecord.read(path)) { XCTAssertTrue("\($0)".contains(needle), "\($0) lacks \(needle)") }
        }
        XCTAssertThrowsError(try SessionRecord.read(NSTemporaryDirectory())) { XCTAssertTrue("\($0)".contains("is a directory"), "\($0)") }
        // The recorder never overwrites.
        let existing = try temporaryFile("r.jsonl", "keep")
        let h = SessionRecord.Header(checkpoint: "c", checkpointSHA256: "0", assets: "a", prompts: nil, templates: nil, compare: nil, glyphs: "ascii",
                                     directory: "/", presenting: false, mouse: false, keys: [:], note: nil)
        XCTAssertThrowsError(try SessionRecorder(path: existing, header: h)) { XCTAssertTrue("\($0)".contains("exists"), "\($0)") }
        XCTAssertEqual(try String(contentsOfFile: existing, encoding: .utf8), "keep")
    }

    func testKeyNamesRoundTrip() {
        let keys: [Key] = [.char("a"), .char(" "), .char("é"), .char("/"), .up, .down, .enter, .tab, .backTab, .escape, .backspace, .resize,
                           .mouse(MouseEvent(x: 3, y: 7, kind: .wheelDown)), .pageUp, .delete, .home]
        for k in keys { XCTAssertEqual(Key(name: k.name), k, k.name) }
        XCTAssertNil(Key(name: "mouse:press:-1:2"))
        XCTAssertNil(Key(name: "warp"))
    }

    // MARK: - --plain

    func testPlainKeyDecoding() {
        var bytes = Array("a\u{1b}[Aé\r\t\u{7f}\u{1b}[Bq".utf8) + [0x1b]
        var keys: [Key] = []
        while let k = StandardInputKeys.decode(&bytes, final: false) { keys.append(k) }
        XCTAssertEqual(keys, [.char("a"), .up, .char("é"), .enter, .tab, .backspace, .down, .char("q")])
        XCTAssertEqual(bytes, [0x1b], "a lone ESC waits for more bytes")
        XCTAssertEqual(StandardInputKeys.decode(&bytes, final: true), .escape)
        var broken: [UInt8] = [0xE6, 0x9D]
        XCTAssertNil(StandardInputKeys.decode(&broken, final: true), "an incomplete UTF-8 sequence at the end is dropped")
        var control: [UInt8] = [0x01, 0x02, UInt8(ascii: "x")]
        XCTAssertEqual(StandardInputKeys.decode(&control, final: true), .char("x"), "control bytes are no keys")
    }

    func testPlainSummaryFollowsTheState() throws {
        let e = try makeExplorer()
        _ = e.frame(width: 120, height: 40)
        let first = e.plainSummary()
        XCTAssertTrue(first.hasPrefix("[Prompts] | "), first)
        XCTAssertTrue(first.contains("> \(e.state.classNames[0])"), first)
        XCTAssertTrue(e.handle(.char("3")))
        let spikes = e.plainSummary()
        XCTAssertTrue(spikes.hasPrefix("[Spikes] | 1/\(e.layerNames.count) \(e.layerNames[0])"), spikes)
        XCTAssertFalse(spikes.unicodeScalars.contains { $0.value < 0x20 })
    }
}
