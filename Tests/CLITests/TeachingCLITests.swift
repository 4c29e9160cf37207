import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import SpikeCLIP

/// Issue 18 through the binary: `spikeclip card` against `classify --json` and `energy --json`, its files decoded;
/// `--config` errors and `--no-config`; `replay` of a record.
final class TeachingCLITests: XCTestCase {
    /// The binary runner and temporary folders of ``CLITests`` (an instance made for its helpers only).
    lazy var cli = CLITests(name: "helpers") { _ in }
    static let checkpoint = CLITests.root.appendingPathComponent("assets/checkpoints/default.safetensors").path
    static let image = CLITests.root.appendingPathComponent("assets/images/sneaker_0009.png").path

    func run(_ args: [String]) throws -> CLITests.Run { try cli.run(args + (args.first == "replay" ? [] : ["--checkpoint", Self.checkpoint])) }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// The card's numbers are the ones `classify --json` and `energy --json` print for the same image and prompts.
    func testCardNumbersEqualClassifyAndEnergyAndItsFilesOpen() throws {
        let dir = try cli.temporaryDirectory() + "/card"
        let prompts = ["sneaker", "ankle boot", "a red wool coat"]
        let card = try run(["card", "--no-config", "--image", Self.image, "--out", dir] + prompts.flatMap { ["--prompt", $0] })
        XCTAssertEqual(card.status, 0, card.stderr)
        let c = try json(try String(contentsOfFile: dir + "/card.json", encoding: .utf8))
        let classify = try run(["classify", "--json", "--image", Self.image] + prompts.flatMap { ["--prompt", $0] })
        XCTAssertEqual(classify.status, 0, classify.stderr)
        let k = try json(classify.stdout)
        let img = try XCTUnwrap((k["images"] as? [[String: Any]])?.first)
        let snn = try XCTUnwrap(img["snn"] as? [String: Any]), ann = try XCTUnwrap(img["ann"] as? [String: Any])
        let rows = try XCTUnwrap(c["scores"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["name"] as? String }, prompts)
        XCTAssertEqual(c["templates"] as? [String], k["templates"] as? [String])
        XCTAssertEqual(c["snn_top1"] as? String, snn["top1_class"] as? String)
        XCTAssertEqual(c["ann_top1"] as? String, ann["top1_class"] as? String)
        func close(_ a: Any?, _ b: Any?, _ what: String, tolerance: Double = 1e-5) {
            guard let x = (a as? NSNumber)?.doubleValue, let y = (b as? NSNumber)?.doubleValue else { return XCTFail("\(what): \(String(describing: a)) vs \(String(describing: b))") }
            XCTAssertEqual(x, y, accuracy: tolerance * max(1, abs(y)), what)
        }
        for (i, row) in rows.enumerated() {
            close(row["snn_cos"], (snn["cosines"] as? [Any])?[i], "SNN cos \(i)")
            close(row["snn_p"], (snn["probabilities"] as? [Any])?[i], "SNN p \(i)")
            close(row["ann_cos"], (ann["cosines"] as? [Any])?[i], "ANN cos \(i)")
            close(row["ann_p"], (ann["probabilities"] as? [Any])?[i], "ANN p \(i)")
        }
        let energy = try run(["energy", "--json", "--image", Self.image])
        XCTAssertEqual(energy.status, 0, energy.stderr)
        let e = try json(energy.stdout)
        let cardEnergy = try XCTUnwrap(c["energy"] as? [String: Any])
        for side in ["snn", "ann"] {
            let mine = try XCTUnwrap(cardEnergy[side] as? [String: Any]), theirs = try XCTUnwrap(e[side] as? [String: Any])
            for key in ["total_macs", "total_acs", "total_paper_pj", "total_fuller_pj"] { close(mine[key], theirs[key], "\(side) \(key)") }
            let a = try XCTUnwrap(mine["layers"] as? [[String: Any]]), b = try XCTUnwrap(theirs["layers"] as? [[String: Any]])
            XCTAssertEqual(a.map { $0["name"] as? String }, b.map { $0["name"] as? String })
            for (x, y) in zip(a, b) { close(x["paper_pj"], y["paper_pj"], "\(side) \(x["name"] ?? "")") }
        }
        XCTAssertEqual(c["steps"] as? Int, e["steps"] as? Int)
        XCTAssertEqual((cardEnergy["constants"] as? [String: Any])?["source"] as? String, (e["constants"] as? [String: Any])?["source"] as? String)
        // Provenance: the checkpoint's hash and record.
        let ck = try XCTUnwrap(c["checkpoint"] as? [String: Any])
        XCTAssertEqual(ck["sha256"] as? String, try sha256Hex(path: Self.checkpoint))
        XCTAssertNotNil(ck["provenance"] as? [String: Any], "the default checkpoint's provenance is carried over")
        XCTAssertEqual((c["image"] as? [String: Any])?["sha256"] as? String, try sha256Hex(path: Self.image))
        // The figures decode; the SVGs parse as XML; the Markdown holds the table.
        for name in ["raster", "spatial"] {
            let png = try ImageDecoder.decode(path: "\(dir)/\(name).png")
            XCTAssertGreaterThan(png.width, 100)
            XCTAssertGreaterThan(png.height, 100)
            let parser = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name).svg")))
            XCTAssertTrue(parser.parse(), "\(name).svg: \(String(describing: parser.parserError))")
        }
        let md = try String(contentsOfFile: dir + "/card.md", encoding: .utf8)
        XCTAssertTrue(md.contains("| a red wool coat |"), md)
        // Deterministic: the same command again gives the same files; an existing card is kept without --force.
        let again = try run(["card", "--no-config", "--image", Self.image, "--out", dir] + prompts.flatMap { ["--prompt", $0] })
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("exists (use --force to replace it)"), again.stderr)
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/card.json"))
        let forced = try run(["card", "--no-config", "--force", "--image", Self.image, "--out", dir] + prompts.flatMap { ["--prompt", $0] })
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/card.json")), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: (dir as NSString).deletingLastPathComponent), ["card"], "no temporary folders left")
        // --force never replaces a folder that is not a card.
        let other = try cli.temporaryDirectory()
        try Data("x".utf8).write(to: URL(fileURLWithPath: other + "/keep.txt"))
        let refused = try run(["card", "--no-config", "--force", "--image", Self.image, "--out", other])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("is not a probe card folder"), refused.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: other + "/keep.txt"))
    }

    func testBadConfigIsOneLineAndNoConfigStartsWithDefaults() throws {
        let dir = try cli.temporaryDirectory()
        let bad = dir + "/config.toml"
        try "theme = \"light\"\nmouse = \"yes\"\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let r = try run(["snapshot", "--config", bad, "--size", "80x24"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("error: \(bad): mouse: expected true or false"), r.stderr)
        let ok = try run(["snapshot", "--config", bad, "--no-config", "--size", "80x24"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        // The default path is read from XDG_CONFIG_HOME: a bad file there is reported the same way.
        try FileManager.default.createDirectory(atPath: dir + "/xdg/spikeclip", withIntermediateDirectories: true)
        try "[keys]\nq = \"warp\"\n".write(toFile: dir + "/xdg/spikeclip/config.toml", atomically: true, encoding: .utf8)
        let xdg = try cli.run(["snapshot", "--checkpoint", Self.checkpoint], environment: ["XDG_CONFIG_HOME": dir + "/xdg"])
        XCTAssertEqual(xdg.status, 1)
        XCTAssertTrue(xdg.stderr.contains("\(dir)/xdg/spikeclip/config.toml: keys.q: 'warp' is not a key"), xdg.stderr)
        // A good file applies: its remap works in snapshot's typed keys.
        try "[keys]\nw = \"tab\"\n".write(toFile: dir + "/xdg/spikeclip/config.toml", atomically: true, encoding: .utf8)
        let remapped = try cli.run(["snapshot", "--checkpoint", Self.checkpoint, "--size", "80x24", "--keys", "ww"], environment: ["XDG_CONFIG_HOME": dir + "/xdg"])
        XCTAssertEqual(remapped.status, 0, remapped.stderr)
        XCTAssertTrue(remapped.stdout.contains("[3 Spikes]"), remapped.stdout)
    }

    func testReplayRefusesAnotherCheckpointAndBadFiles() throws {
        let dir = try cli.temporaryDirectory()
        let record = dir + "/r.jsonl"
        let header = #"{"assets":"assets","checkpoint":"\#(Self.checkpoint)","checkpoint_sha256":"00","directory":"/","format":"spikeclip-session","glyphs":"ascii","keys":{},"mouse":false,"presenting":false,"software":"x","version":1}"#
        try (header + "\n").write(toFile: record, atomically: true, encoding: .utf8)
        let r = try run(["replay", record])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("the record was made with 00"), r.stderr)
        try "not json\n".write(toFile: record, atomically: true, encoding: .utf8)
        let bad = try run(["replay", record])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("\(record):1: not a spikeclip session record"), bad.stderr)
    }
}
