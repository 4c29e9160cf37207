import Foundation
import XCTest
@testable import SpikeCLIP

/// The engine's energy accounting against the Python one (issue 12): `Tests/Fixtures/<name>/energy.json` holds the
/// per-layer operation counts `training/` computes from the golden spikes (`python -m spikeclip_training.energy_fixture`);
/// the engine recomputes them from its own forward pass on the same inputs. Every layer, in order, every kind of
/// operation, equal. (`training/tests/test_energy_fixture.py` checks the Python side against the same file.)
final class EnergyFixtureTests: XCTestCase {
    typealias Rows = [(name: String, counts: [String: Double])]

    func rows(_ any: Any?) throws -> Rows {
        let list = try XCTUnwrap(any as? [[Any]])
        return try list.map { pair in
            let name = try XCTUnwrap(pair.first as? String)
            let counts = try XCTUnwrap(pair.last as? [String: NSNumber]).mapValues(\.doubleValue)
            return (name, counts)
        }
    }

    func rows(_ report: EnergyReport) -> Rows {
        report.layers.map { l -> (name: String, counts: [String: Double]) in
            var counts: [String: Double] = [:]
            counts["macs"] = l.macs.reduce(0, +)
            counts["acs"] = l.acs.reduce(0, +)
            counts["neuron_updates"] = l.neuronUpdates.reduce(0, +)
            counts["adds"] = l.adds.reduce(0, +)
            counts["multiplies"] = l.multiplies.reduce(0, +)
            return (l.name, counts)
        }
    }

    func assertEqual(_ engine: Rows, _ python: Rows, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(engine.map(\.name), python.map(\.name), "\(what): layers", file: file, line: line)
        for (e, p) in zip(engine, python) where e.name == p.name {
            XCTAssertEqual(e.counts, p.counts, "\(what): \(e.name)", file: file, line: line)
        }
    }

    func testEngineCountsEqualThePythonAccounting() throws {
        for name in ["tiny-default", "tiny-official", "official-import"] {
            let data = try XCTUnwrap(FileManager.default.contents(atPath: fixturePath(name, "energy.json")), "missing \(name)/energy.json")
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
            let model = try SpikeCLIPModel(path: fixturePath(name, "model.safetensors"))
            let golden = try ParityTests.Golden(path: fixturePath(name, "golden.safetensors"))
            let c = model.config
            let (_, visionRec) = try model.vision.forward(pixels: golden.pixels, batch: golden.batch, mode: .event)
            let (_, textRec) = try model.text.forward(tokenIds: golden.tokenIds, mode: .event)
            let vision = try XCTUnwrap(json["vision"] as? [Any])
            XCTAssertEqual(vision.count, golden.batch)
            for b in 0..<golden.batch {
                assertEqual(rows(try EnergyAccounting.vision(visionRec, config: c, item: b)), try rows(vision[b]), "\(name) image \(b)")
            }
            let text = try XCTUnwrap(json["text"] as? [Any])
            XCTAssertEqual(text.count, golden.tokenIds.count)
            for p in 0..<golden.tokenIds.count {
                assertEqual(rows(try EnergyAccounting.text(textRec, config: c, prompt: p)), try rows(text[p]), "\(name) prompt \(p)")
            }
            if let twin = EnergyAccounting.annVision(config: c) {
                assertEqual(rows(twin), try rows(json["ann_vision"]), "\(name) ANN twin")
            } else {
                XCTAssertEqual((json["ann_vision"] as? [Any])?.count, 0, "\(name): no twin, no rows")
            }
            // Not vacuous: the spiking side has spike-driven accumulates on every image.
            XCTAssertGreaterThan(try rows(vision[0]).reduce(0) { $0 + ($1.counts["acs"] ?? 0) }, 1000)
        }
    }
}
