import ArgumentParser
import Foundation
import SpikeCLIP
import TUI
import Visualize

/// Bad input: a one-line message, exit code 1.
struct UserError: Error, CustomStringConvertible {
    let description: String
}

@main
struct SpikeCLIPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spikeclip",
        abstract: "Look inside spiking CLIP models: zero-shot scores, spikes and energy from our own engine.",
        discussion: """
            Every scripted subcommand takes --json for machine-readable output on stdout.
            Exit codes: 0 ok, 1 runtime error (one line 'error: ...' on stderr), 2 usage error.
            """,
        version: "spikeclip \(spikeclipVersion) (\(BLASCore.summary), event kernels \(EventKernels.isa))",
        subcommands: [Explore.self, Snapshot.self, Classify.self, Eval.self, Sweep.self, RasterCommand.self, EnergyCommand.self,
                      Inspect.self, Tokenize.self, Embed.self, Card.self, Replay.self, Demo.self, Bench.self],
        defaultSubcommand: Explore.self)

    /// Parses and runs, mapping errors to the documented exit codes: 0 ok (help and version included), 1 runtime
    /// error, 2 usage or validation error (ArgumentParser's own default would be 64). Each error is one line
    /// `error: ...` on stderr.
    static func main() {
        #if os(Linux)
        // OpenBLAS chose generic kernels for this CPU (BLASCore): start again with the right ones. execv returns only
        // on failure, and then the slow kernels still compute the same products.
        if let core = BLASCore.restartCoreType() {
            setenv("OPENBLAS_CORETYPE", core, 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
        }
        #endif
        EventKernels.keepFreedMemory()
        Foundation.exit(run(arguments: Array(CommandLine.arguments.dropFirst())))
    }

    static func run(arguments: [String]) -> Int32 {
        if let first = arguments.first, let hint = unknownSubcommandMessage(first) {
            printError("error: " + hint)
            return 2
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return 0
        } catch let code as ExitCode {
            return code.rawValue  // already reported by `guarded`
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }  // --help, --version: printed, exit 0
            var line = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            if line.hasPrefix("Error: ") { line.removeFirst("Error: ".count) }
            printError("error: " + line)
            return code == .validationFailure ? 2 : 1
        }
    }

    /// Names of the subcommands (the first word of a command line).
    static var subcommandNames: [String] {
        configuration.subcommands.map { $0._commandName }
    }

    /// The one-line message for a first word that is neither an option nor a subcommand (the default subcommand
    /// `explore` takes no positional arguments), with the closest subcommand when one is near; nil otherwise.
    static func unknownSubcommandMessage(_ word: String) -> String? {
        guard !word.hasPrefix("-"), word != "help", !subcommandNames.contains(word) else { return nil }
        let names = subcommandNames
        let best = names.map { ($0, editDistance(word.lowercased(), $0)) }.min { $0.1 < $1.1 }
        let suggestion = best.flatMap { $0.1 <= max(2, $0.0.count / 3) ? " (did you mean '\($0.0)'?)" : nil } ?? ""
        return "unknown subcommand '\(quotedPreview(word))'\(suggestion); subcommands: \(names.joined(separator: ", ")); see 'spikeclip --help'"
    }

    /// Levenshtein distance between two strings (in Characters).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// Runs `body`, turning every error into `error: ...` on stderr and exit code 1.
    static func guarded(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as ExitCode {
            throw e
        } catch let e as CustomStringConvertible {
            printError("error: \(e.description)")
            throw ExitCode(1)
        }
    }
}

/// Inputs stored with a golden fixture: images `[B, C, H, W]` and prompt token ids `[P, L]`.
struct FixtureInputs {
    let batch: Int
    let pixels: [Float]
    let tokenIds: [[Int]]
    let templatesPerClass: Int

    init(path: String) throws {
        let f = try SafeTensorsFile(path: path)
        guard f.metadata["fixture_format"] == "spikeclip-golden" else { throw UserError(description: "\(path): not a spikeclip golden fixture") }
        batch = try f.info("input.pixel_values").shape[0]
        pixels = try f.floats("input.pixel_values")
        let shape = try f.info("input.token_ids").shape
        let ids = try f.ints("input.token_ids")
        tokenIds = (0..<shape[0]).map { Array(ids[($0 * shape[1])..<(($0 + 1) * shape[1])]) }
        templatesPerClass = Int(f.metadata["num_templates"] ?? "1") ?? 1
    }
}

extension GlyphSet: ExpressibleByArgument {}
extension EnergyConvention: ExpressibleByArgument {}
extension KernelMode: ExpressibleByArgument {}

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify the fixture's images with the spiking model and its ANN twin; print scores, firing rates, energy and a raster.")

    @Option(help: "Fixture directory holding model.safetensors and golden.safetensors.")
    var fixture = "Tests/Fixtures/tiny-default"

    @Option(help: "LIF layer to draw as a raster (default: the first attention q_lif).")
    var layer: String?

    @Option(help: "Glyphs: braille, half-blocks or ascii.")
    var glyphs: GlyphSet = .braille

    @Option(help: "Kernels: event (default: events on spikes, BLAS elsewhere), blas or reference.")
    var kernels: KernelMode = .fastest

    func run() throws {
        try SpikeCLIPCommand.guarded {
            let pipeline = SpikeCLIPPipeline(bundle: try CheckpointBundle(checkpoint: fixture + "/model.safetensors", assets: "assets"))
            let inputs = try FixtureInputs(path: fixture + "/golden.safetensors")
            let c = pipeline.config
            say("SpikeCLIP demo on \(fixture) (random-weight parity fixture: the engine end to end; 'classify' and 'explore' use the trained default checkpoint)")
            say("image encoder: \(c.vision.inChannels)x\(c.vision.imageSize[0])x\(c.vision.imageSize[1]), D=\(c.vision.embedDims), \(c.vision.numHeads) heads, depth \(c.vision.depths), T=\(c.T)")
            say("text encoder: L=\(c.text.contextLength), E=\(c.text.embedDim) (\(c.text.embedding.kind) embedding\(ModelConfig.EmbeddingConfig.signedNote(c.text.embedding.signed == true))), hidden \(c.text.hiddenDim), target \(c.text.targetDim)")
            let m = inputs.templatesPerClass, k = inputs.tokenIds.count / max(1, inputs.templatesPerClass)
            let names = (0..<k).map { $0 < c.classes.count ? c.classes[$0] : "class \($0)" }
            let prompts = PromptSet(classes: names, prompts: inputs.tokenIds.map { $0.map(String.init).joined(separator: " ") }, templatesPerClass: m)
            let text = try pipeline.encodeText(prompts, mode: kernels)
            let result = try pipeline.analyze(pixels: inputs.pixels, batch: inputs.batch, text: text, options: AnalysisOptions(mode: kernels))
            let visionRec = result.recording, textRec = text.recording
            guard let annEnergy = result.annEnergy, result.images.allSatisfy({ $0.ann != nil }) else {
                throw UserError(description: "\(fixture): the demo compares with the ANN twin, which this fixture has not")
            }
            for (b, image) in result.images.enumerated() {
                let scores = image.snn!, annScores = image.ann!  // checked above
                say(); say("image \(b): zero-shot over \(k) classes x \(m) templates (logit scale \(c.logitScale)); SNN top-1 \(names[scores.top1]); ANN twin image vs the same text embeddings: \(names[annScores.top1])")
                let bars = ScoreBars(
                    labels: names, fractions: scores.probabilities.map(Double.init),
                    values: (0..<k).map { String(format: "p %.3f  cos %+.3f", scores.probabilities[$0], scores.cosines[$0]) },
                    highlight: scores.top1)
                bars.render(width: 72, glyphs: glyphs).lines.forEach { say("  " + $0) }
                let energy = image.energy!
                let snnPaper = energy.totalPJ(.paper), annPaper = annEnergy.totalPJ(.paper)
                say("  energy: SNN \(formatEnergy(picojoules: snnPaper)) (paper convention), \(formatEnergy(picojoules: energy.totalPJ(.fuller))) (fuller estimate);"
                      + " ANN twin \(formatEnergy(picojoules: annPaper)); SNN/ANN " + String(format: "%.3f", snnPaper / annPaper))
                say("          SNN \(formatCount(energy.totalMACs)) MACs + \(formatCount(energy.totalACs)) ACs, ANN \(formatCount(annEnergy.totalMACs)) MACs; \(energy.constants.source)")
            }
            say(); say("firing rate per LIF layer (all images / prompts):")
            for l in visionRec.layers + textRec.layers {
                let shape = l.shape.map(String.init).joined(separator: "x")
                say("  " + l.name.padding(toLength: 36, withPad: " ", startingAt: 0) + " " + shape.padding(toLength: 22, withPad: " ", startingAt: 0)
                      + String(format: " %5.1f%%", l.firingRate() * 100))
            }
            let name = layer ?? visionRec.layers.first { $0.name.hasSuffix("q_lif") }?.name ?? visionRec.layers[0].name
            guard let chosen = visionRec[name] ?? textRec[name] else {
                throw UserError(description: "--layer '\(name)' is not a LIF layer of this model; known: \((visionRec.layers + textRec.layers).map(\.name).joined(separator: ", "))")
            }
            // Raster of item 0: neurons of the first batch item, time steps across.
            let n = chosen.neuronsPerItem
            var spikes = [UInt8](repeating: 0, count: chosen.steps * n)
            for t in 0..<chosen.steps { for (i, s) in chosen.spikes(step: t, item: 0).enumerated() { spikes[t * n + i] = s } }
            let dots = glyphs.dotsPerCell
            let height = 8
            say(); say("raster \(name), item 0, neurons 0-\(min(n, height * dots.y) - 1) of \(n) (rows), time steps 0-\(chosen.steps - 1) (columns), firing rate at right:")
            SpikeRaster(spikes: spikes, steps: chosen.steps, neurons: n).render(width: 4 * chosen.steps / dots.x + 5, height: height, glyphs: glyphs)
                .lines.forEach { say("  " + $0) }
        }
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the engine: spiking image encoder per kernel mode, spiking text encoder, ANN twin (p50/p95, ms).")

    @Option(help: "Fixture directory holding model.safetensors and golden.safetensors.")
    var fixture = "Tests/Fixtures/tiny-official"

    @Option(help: "Timed repetitions per measurement.")
    var iterations = 20

    @Option(help: "Bench this checkpoint instead (any SpikeCLIP checkpoint, no golden file): our kernels beside the PyTorch reference on the same inputs and threads, the SGEMM rate, eval throughput.")
    var checkpoint: String?

    @Flag(help: "Measure the event path against dense BLAS per spiking layer shape and firing rate, and the crossover where a layer should switch to BLAS.")
    var crossover = false

    @Flag(help: "With --checkpoint or --crossover: print the report as JSON.")
    var json = false

    func run() throws {
        try SpikeCLIPCommand.guarded {
            guard iterations >= 1 else { throw UserError(description: "--iterations must be >= 1") }
            if crossover { return try benchCrossover(iterations: iterations, json: json) }
            if let checkpoint { return try benchCheckpoint(path: checkpoint, iterations: iterations, json: json) }
            guard !json else { throw UserError(description: "--json needs --checkpoint or --crossover") }
            let model = try SpikeCLIPModel(path: fixture + "/model.safetensors")
            let inputs = try FixtureInputs(path: fixture + "/golden.safetensors")
            let one = Array(inputs.pixels.prefix(inputs.pixels.count / inputs.batch))
            let prompt = [inputs.tokenIds[0]]
            func measure(_ label: String, _ body: () throws -> Void) rethrows {
                let ms = try Timing.milliseconds(iterations, body)
                let p50 = Timing.quantile(ms, 0.5), p95 = Timing.quantile(ms, 0.95)
                say(label.padding(toLength: 48, withPad: " ", startingAt: 0) + String(format: " p50 %8.3f ms   p95 %8.3f ms", p50, p95))
            }
            say("bench on \(fixture), \(iterations) iterations, batch 1")
            for mode in KernelMode.allCases {
                try measure("spiking image encoder (\(mode.rawValue), record)") { _ = try model.vision.forward(pixels: one, batch: 1, mode: mode) }
            }
            try measure("spiking image encoder (blas, no recording)") { _ = try model.vision.forward(pixels: one, batch: 1, options: .none) }
            for mode in KernelMode.allCases {
                try measure("spiking text encoder, 1 prompt (\(mode.rawValue))") { _ = try model.text.forward(tokenIds: prompt, mode: mode) }
            }
            if let twin = model.annVision {
                try measure("ANN twin image encoder (blas)") { _ = try twin.forward(pixels: one, batch: 1) }
            }
            try benchTokenizerAndMiniLM(iterations: iterations)
            let explorerCheckpoint = try ExplorerOptions.resolve(nil).path
            // The explorer's text workload: every class x template of the checkpoint through the spiking text encoder.
            let bundle = try CheckpointBundle(checkpoint: explorerCheckpoint, assets: ExplorerOptions.resolveAssets("assets"))
            let prompts = PromptSet(classes: bundle.defaultClasses, templates: bundle.defaultTemplates)
            let tokens = try prompts.prompts.map { try bundle.parts.tokenizer.tokenize($0, contextLength: bundle.config.text.contextLength).ids }
            for mode in [KernelMode.blas, .event] {
                try measure("spiking text encoder, \(tokens.count) prompts (\(mode.rawValue))") { _ = try bundle.parts.spikingText.forward(tokenIds: tokens, mode: mode, options: RecordingOptions(spikes: true), interventions: .none) }
            }
            say("explorer on \(explorerCheckpoint):")
            try benchExplorer(checkpoint: explorerCheckpoint, assets: ExplorerOptions.resolveAssets("assets"), iterations: iterations)
            let (_, rec) = try model.vision.forward(pixels: one, batch: 1)
            try measure("energy accounting from the recording") { _ = try EnergyAccounting.vision(rec, config: model.config, item: 0) }
            // CLIP towers at ViT-B/16's geometry (image 224, patch 16, L 77; reduced width and depth), beside transformers.
            let clipFolder = "Tests/Fixtures/clip/vitb16-geometry"
            let clip = try CLIPModel(folder: clipFolder)
            let cc = clip.config
            let clipPixels = [Float](repeating: 0, count: 3 * cc.imageSize * cc.imageSize)
            let clipTokens = [[Int](repeating: 0, count: cc.maxPositionEmbeddings - 1) + [cc.vocabSize - 1]]
            say("CLIP on \(clipFolder): image \(cc.imageSize), patch \(cc.patchSize), width \(cc.vision.hiddenSize), depth \(cc.vision.numHiddenLayers)")
            try measure("CLIP image tower (blas)") { _ = try clip.imageFeatures(pixels: clipPixels, batch: 1) }
            try measure("CLIP text tower, L 77 (blas)") { _ = try clip.textFeatures(tokenIds: clipTokens) }
            benchPyTorchReference(checkpoint: fixture + "/model.safetensors", iterations: iterations, clip: clipFolder)
        }
    }
}
