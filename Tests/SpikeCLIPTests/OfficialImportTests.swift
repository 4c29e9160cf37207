import Foundation
import XCTest
@testable import SpikeCLIP

/// Files converted from the official SpikeCLIP code (issue 14): `Tests/Fixtures/official-import` is what
/// `python -m spikeclip_training.convert_official` writes (no ANN twin, CLIP BPE, `clip-then-resize`);
/// `Tests/Fixtures/clip/official-ann` a random-weight CLIP folder that fits it (CLIP's vocabulary size, image 224,
/// projection 32). Parity of the spiking encoders is in ``ParityTests``; here: the family, the ANN side and the inputs.
final class OfficialImportTests: XCTestCase {
    let assets = repositoryRoot.appendingPathComponent("assets").path
    let image = repositoryRoot.appendingPathComponent("assets/images/bag_0018.png").path

    /// A copy of the converted fixture in a fresh folder, with the CLIP folder beside it when `withCLIP` (named by
    /// `ann_text` with its sha256, as the converter writes it), the config edited by `edit`.
    func converted(withCLIP: Bool, edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        let dir = temporaryPath("official-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: dir + "/clip", withIntermediateDirectories: true)
        let source = try SafeTensorsFile(path: fixturePath("official-import", "model.safetensors"))
        var sha = ""
        if withCLIP {
            for f in ["config.json", "model.safetensors"] {
                try FileManager.default.copyItem(atPath: fixturePath("clip", "official-ann/" + f), toPath: dir + "/clip/" + f)
            }
            sha = try sha256Hex(path: dir + "/clip/model.safetensors")
        }
        var metadata = source.metadata
        metadata["config"] = editedJSON(metadata["config"]!) { c in
            c["ann_text"] = withCLIP ? ["file": "clip", "sha256": sha] : NSNull()
            edit(&c)
        }
        try writeSafeTensors(dir + "/model.safetensors", tensors: rawTensors(of: source), metadata: metadata)
        return dir + "/model.safetensors"
    }

    func testWithoutCLIPTheSpikingSideOpensAlone() throws {
        let bundle = try CheckpointBundle(checkpoint: try converted(withCLIP: false), assets: assets)
        XCTAssertEqual(bundle.family.kind, "clip-bpe")
        XCTAssertNil(bundle.model.annVision)
        XCTAssertNil(bundle.parts.annImage)
        XCTAssertNil(bundle.parts.annText)
        let p = SpikeCLIPPipeline(bundle: bundle)
        XCTAssertNil(p.annImageName)
        let text = try p.encodeText(PromptSet(classes: ["cat", "dog"], templates: ["a photo of a {}."]))
        XCTAssertEqual(Array(text.tokens[0].ids.prefix(8)), [49406, 320, 1125, 539, 320, 2368, 269, 49407], "CLIP BPE at L = 20")
        XCTAssertEqual(text.tokens[0].ids.count, 20)
        XCTAssertEqual(text.tokens[0].ids.last, 49407, "padded with <|endoftext|>")
        let prepared = try p.prepare(image)
        XCTAssertEqual(prepared.spiking.count, 3 * 32 * 32)
        XCTAssertNil(prepared.clip, "no ANN side reads CLIP's view")
        let r = try p.analyze(images: [prepared], text: text)
        XCTAssertNotNil(r.images[0].snn)
        XCTAssertNil(r.images[0].ann)
        XCTAssertNil(r.images[0].imageCosine)
        XCTAssertNil(r.annEnergy)
        XCTAssertGreaterThan(try XCTUnwrap(r.images[0].energy).totalACs, 0)
    }

    func testCLIPIsTheANNSide() throws {
        let bundle = try CheckpointBundle(checkpoint: try converted(withCLIP: true), assets: assets)
        let tower = try XCTUnwrap(bundle.parts.annImage as? CLIPImageTower)
        XCTAssertEqual(bundle.parts.annText?.name, "clip")
        let p = SpikeCLIPPipeline(bundle: bundle)
        XCTAssertEqual(p.annImageName, "CLIP")
        let prepared = try p.prepare(image)
        let clipView = try XCTUnwrap(prepared.clip)
        XCTAssertEqual(clipView.count, 3 * 224 * 224)
        // The official input: CLIP's processor output, then bilinear to 32x32 (F.interpolate, align_corners=False).
        let decoded = try ImageDecoder.decode(path: image)
        XCTAssertEqual(clipView, CLIPImagePreprocessor()(decoded))
        let resized = ImagePreprocessor.resizeBilinear(.init(channels: 3, height: 224, width: 224, values: clipView), height: 32, width: 32)
        XCTAssertEqual(prepared.spiking, resized.values)

        let prompts = PromptSet(classes: ["cat", "dog", "bag"], templates: ["a photo of a {}.", "a {} in a picture"])
        let text = try p.encodeText(prompts)
        XCTAssertEqual(text.annTextEncoder, "clip")
        XCTAssertEqual(text.textCosines?.count, 3)
        let r = try p.analyze(images: [prepared], text: text)
        let ann = try XCTUnwrap(r.images[0].ann)
        let features = try tower.clip.imageFeatures(pixels: clipView, batch: 1)
        XCTAssertEqual(ann.cosines, text.ann.score(imageEmbedding: features).cosines, "CLIP image features against CLIP text")
        XCTAssertNotNil(r.images[0].imageCosine)
        XCTAssertEqual(r.annEnergy, EnergyAccounting.clipVision(tower.clip.config))
        // CLIP's text tower per prompt, over its real tokens.
        let energies = try XCTUnwrap(text.annTextEnergy)
        XCTAssertEqual(energies.count, 6)
        XCTAssertEqual(energies[0], EnergyAccounting.clipText(tower.clip.config, tokens: text.tokens[0].mask.reduce(0, +)))
        let n0 = text.tokens[0].mask.reduce(0, +), n1 = text.tokens[1].mask.reduce(0, +)
        XCTAssertNotEqual(n0, n1)
        XCTAssertEqual(energies[0].totalMACs > energies[1].totalMACs, n0 > n1, "the longer prompt costs more")
        // Without CLIP's own view the tower does not run (the 32x32 input is never upsampled for it).
        XCTAssertNil(try p.analyze(pixels: prepared.spiking, batch: 1, text: text).images[0].ann)
    }

    /// CLIP ViT-B/16's image tower is 17.6 GMACs in the usual count (timm, fvcore); ours lands there.
    func testCLIPVisionMACsAtViTB16() throws {
        let json = """
            {"projection_dim": 512, "vision_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
             "num_attention_heads": 12, "image_size": 224, "patch_size": 16},
             "text_config": {"hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12, "num_attention_heads": 8}}
            """
        let c = try CLIPConfig.decode(Data(json.utf8), path: "vit-b-16")
        let macs = EnergyAccounting.clipVision(c).totalMACs
        XCTAssertGreaterThan(macs, 17.4e9)
        XCTAssertLessThan(macs, 17.7e9)
        // The text tower at CLIP's usual 77 tokens: about 2.9 GMACs; a 7-token prompt about a tenth.
        let text77 = EnergyAccounting.clipText(c, tokens: 77).totalMACs
        XCTAssertGreaterThan(text77, 2.8e9)
        XCTAssertLessThan(text77, 3.1e9)
        XCTAssertLessThan(EnergyAccounting.clipText(c, tokens: 7).totalMACs, text77 / 9)
    }

    func testVocabularyIsChecked() throws {
        let wrongHash = try converted(withCLIP: false) { c in
            var t = c["tokenizer"] as! [String: Any]; t["vocab_sha256"] = String(repeating: "0", count: 64); c["tokenizer"] = t
        }
        XCTAssertThrowsError(try CheckpointBundle(checkpoint: wrongHash, assets: assets)) { e in
            XCTAssertTrue("\(e)".contains("vocabulary") && "\(e)".contains("sha256"), "\(e)")
        }
        // tiny-official (V = 64) cannot read CLIP's vocabulary: refused at load, not at the first prompt.
        let dir = temporaryPath("clip-v64-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let source = try SafeTensorsFile(path: fixturePath("tiny-official", "model.safetensors"))
        var metadata = source.metadata
        metadata["config"] = editedJSON(metadata["config"]!) { c in
            var t = c["tokenizer"] as! [String: Any]; t["kind"] = "clip-bpe"; t["vocab_file"] = "clip/bpe_simple_vocab_16e6.txt.gz"; c["tokenizer"] = t
        }
        try writeSafeTensors(dir + "/model.safetensors", tensors: rawTensors(of: source), metadata: metadata)
        XCTAssertThrowsError(try CheckpointBundle(checkpoint: dir + "/model.safetensors", assets: assets)) { e in
            XCTAssertEqual("\(e)", "\(dir)/model.safetensors: vocabulary '\(assets)/clip/bpe_simple_vocab_16e6.txt.gz' has 49408 tokens, the text embedding 64 rows")
        }
        // Regression (fresh-user trial): a converted file moved away from its CLIP folder `clip` found the assets'
        // `clip` folder (CLIP's BPE file only) and failed on a vocab.json it never named; now the folder is missing.
        let moved = try converted(withCLIP: false) { c in
            var t = c["tokenizer"] as! [String: Any]; t["vocab_file"] = "clip"; t["vocab_sha256"] = nil; c["tokenizer"] = t
        }
        XCTAssertThrowsError(try CheckpointBundle(checkpoint: moved, assets: assets)) { e in
            XCTAssertEqual("\(e)", "\(moved): CLIP vocabulary 'clip' not found next to the checkpoint, one folder up or in \(assets)")
        }
        // A CLIP folder whose model is not the one named is refused (hash), as for MiniLM.
        let path = try converted(withCLIP: true)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("clip/model.safetensors")))
        XCTAssertThrowsError(try CheckpointBundle(checkpoint: path, assets: assets)) { XCTAssertTrue("\($0)".contains("sha256"), "\($0)") }
    }

    func testConfigWithoutTwinAndWithCLIPPreprocessingValidates() throws {
        let source = try SafeTensorsFile(path: fixturePath("official-import", "model.safetensors"))
        let config = try ModelConfig.decode(source.metadata["config"]!, path: "x")
        XCTAssertNil(config.annVision)
        XCTAssertEqual(config.preprocess.kind, "clip-then-resize")
        XCTAssertEqual(config.preprocess.clipCropSize, 224)
        for (edit, reason) in [
            ({ (c: inout [String: Any]) in var p = c["preprocess"] as! [String: Any]; p["kind"] = "magic"; c["preprocess"] = p }, "preprocess.kind"),
            ({ (c: inout [String: Any]) in var p = c["preprocess"] as! [String: Any]; p["clip_crop_size"] = nil; c["preprocess"] = p }, "clip_crop_size"),
            ({ (c: inout [String: Any]) in var t = c["tokenizer"] as! [String: Any]; t["vocab_sha256"] = "abc"; c["tokenizer"] = t }, "vocab_sha256"),
        ] {
            let json = editedJSON(source.metadata["config"]!, edit)
            XCTAssertThrowsError(try ModelConfig.decode(json, path: "x")) { XCTAssertTrue("\($0)".contains(reason), "\($0)") }
        }
    }
}
