import ArgumentParser
import Foundation
import SpikeCLIP

/// Raw embeddings of every model present, for users and external checks (issue 13).
struct EmbedJSON: Codable {
    struct Model: Codable {
        /// `spiking`, `ann_twin`, `ann_text` (the checkpoint's ANN text model) or `clip`.
        var model: String
        var images: [[Float]]
        var texts: [[Float]]
    }
    var checkpoint: String?
    var clip: String?
    var images: [String]
    var texts: [String]
    var models: [Model]
}

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print raw (not normalised) image and text embeddings of each model present: the spiking encoders, the ANN twin, the ANN text model, and a Hugging Face CLIP folder.")

    @Option(help: "SpikeCLIP checkpoint (default: the trained default, unless only --clip is given).")
    var checkpoint: String?

    @Option(help: "Assets folder searched for the files the checkpoint names.")
    var assets = "assets"

    @Option(help: "A Hugging Face CLIPModel folder (config.json, model.safetensors; vocab.json + merges.txt, else assets/clip's vocabulary).")
    var clip: String?

    @Option(name: .customLong("image"), parsing: .upToNextOption, help: "Image file(s).")
    var images: [String] = []

    @Option(name: .customLong("text"), parsing: .upToNextOption, help: "Text(s).")
    var texts: [String] = []

    @Flag(help: "Machine-readable output (the full vectors).")
    var json = false

    func validate() throws {
        guard !images.isEmpty || !texts.isEmpty else { throw ValidationError("give at least one --image or --text") }
    }

    func run() throws {
        try SpikeCLIPCommand.guarded {
            var models: [EmbedJSON.Model] = []
            var checkpointPath: String?
            if checkpoint != nil || clip == nil {
                let (path, _) = try ExplorerOptions.resolve(checkpoint)
                checkpointPath = path
                let ctx = try ModelContext(checkpoint: path, assets: ExplorerOptions.resolveAssets(assets), note: nil, loadANNText: true)
                let p = ctx.pipeline
                var spikingImages: [[Float]] = [], twinImages: [[Float]] = []
                if !images.isEmpty {
                    let prepared = try images.map(p.prepare)
                    let dim = ctx.config.text.targetDim
                    let s = try p.parts.spikingImage.forwardDetailed(pixels: prepared.flatMap(\.spiking), batch: images.count, mode: ctx.kernels, options: .none).embedding
                    spikingImages = rows(s, dim: dim)
                    // The ANN image side: the twin on the same pixels, or CLIP's image tower on its own view.
                    if let ann = p.parts.annImage {
                        let input = ann.ownInput == nil ? prepared.flatMap(\.spiking) : prepared.flatMap { $0.clip ?? [] }
                        twinImages = rows(try ann.forward(pixels: input, batch: images.count, mode: .blas), dim: dim)
                    }
                }
                var spikingTexts: [[Float]] = [], annTexts: [[Float]] = []
                if !texts.isEmpty {
                    let text = try p.encodeText(PromptSet(classes: texts, templates: ["{}"]), mode: ctx.kernels)
                    spikingTexts = text.snnEmbeddings
                    annTexts = text.annEmbeddings ?? []
                }
                models.append(.init(model: "spiking", images: spikingImages, texts: spikingTexts))
                if let ann = p.parts.annImage { models.append(.init(model: ann.name == "clip" ? "ann_clip_image" : "ann_twin", images: twinImages, texts: [])) }
                if p.parts.annText != nil { models.append(.init(model: "ann_text", images: [], texts: annTexts)) }
            }
            if let clip {
                let model = try CLIPModel(folder: clip)
                var clipImages: [[Float]] = [], clipTexts: [[Float]] = []
                if !images.isEmpty {
                    let pre = try CLIPImagePreprocessor(folder: clip, size: model.config.imageSize)
                    let pixels = try images.flatMap { pre(try ImageDecoder.decode(path: $0)) }
                    clipImages = rows(try model.imageFeatures(pixels: pixels, batch: images.count), dim: model.config.projectionDim)
                }
                if !texts.isEmpty {
                    let folderVocab = (clip as NSString).appendingPathComponent("vocab.json")
                    let vocab = FileManager.default.fileExists(atPath: folderVocab) ? clip
                        : (ExplorerOptions.resolveAssets(assets) as NSString).appendingPathComponent("clip/bpe_simple_vocab_16e6.txt.gz")
                    let tokenizer = try CLIPTokenizer(path: vocab)
                    guard tokenizer.tokens.count <= model.config.vocabSize else {
                        throw UserError(description: "\(clip): the model's vocabulary has \(model.config.vocabSize) tokens, the tokenizer \(vocab) \(tokenizer.tokens.count): text needs the folder's own vocab.json + merges.txt")
                    }
                    // Cut to max_position_embeddings with the end token kept; batched as the explorer does
                    // (the causal mask makes padding after the end token irrelevant).
                    clipTexts = try model.embed(texts.map { tokenizer.tokenize($0, contextLength: model.config.maxPositionEmbeddings) })
                }
                models.append(.init(model: "clip", images: clipImages, texts: clipTexts))
            }
            let result = EmbedJSON(checkpoint: checkpointPath, clip: clip, images: images, texts: texts, models: models)
            if json { try printJSON(result); return }
            for m in result.models {
                for (name, vectors) in [("image", m.images), ("text", m.texts)] {
                    for (i, v) in vectors.enumerated() {
                        let label = name == "image" ? images[i] : "'\(texts[i])'"
                        let norm = v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
                        say("\(m.model) \(name) \(label): dim \(v.count), norm \(String(format: "%.4f", norm)), first "
                              + v.prefix(4).map { String(format: "%+.4f", $0) }.joined(separator: " "))
                    }
                }
            }
        }
    }
}
