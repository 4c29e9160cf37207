import ArgumentParser
import Foundation
import SpikeCLIP
import Visualize

/// Accuracy of one side against the dataset labels.
struct SideResultJSON: Codable {
    var top1: Double
    var top5: Double
    /// Rows: true label `0..<10`; columns: predicted class `0..<K`.
    var confusion: [[Int]]
    /// Per label: fraction of its images predicted as class `label`.
    var perClass: [Double]
}

struct EvalJSON: Codable {
    struct Energy: Codable {
        var snnPaperPJMean: Double
        var snnFullerPJMean: Double
        var snnMACsMean: Double
        var snnACsMean: Double
        /// Absent without an ANN image side.
        var annPaperPJ: Double?
        var annFullerPJ: Double?
        var annMACs: Double?
        var constants: EnergyConstants
        enum CodingKeys: String, CodingKey {
            case snnPaperPJMean = "snn_paper_pj_mean", snnFullerPJMean = "snn_fuller_pj_mean", snnMACsMean = "snn_macs_mean"
            case snnACsMean = "snn_acs_mean", annPaperPJ = "ann_paper_pj", annFullerPJ = "ann_fuller_pj", annMACs = "ann_macs", constants
        }
    }
    struct Rate: Codable {
        var layer: String
        var firingRate: Double
    }
    struct Throughput: Codable {
        var threads: Int
        var batchSize: Int
        var textSeconds: Double
        var spikingSeconds: Double
        var annSeconds: Double?
        var totalSeconds: Double
        var spikingImagesPerSecond: Double
        var annImagesPerSecond: Double?
        var imagesPerSecond: Double
    }
    var checkpoint: String
    var note: String?
    var dataset: String
    var split: String
    var images: Int
    var classes: [String]
    /// How many leading classes correspond to dataset labels (the rest are distractors).
    var labelClasses: Int
    var templates: [String]
    var annTextEncoder: String
    /// `twin`, `clip`, or absent (no ANN image side).
    var annImageEncoder: String?
    /// The interventions applied to the spiking side (absent: none).
    var interventions: InterventionSet?
    var spiking: SideResultJSON
    /// Absent without an ANN image side.
    var ann: SideResultJSON?
    /// Fraction of images where both sides pick the same class.
    var agreement: Double?
    var energy: Energy
    /// Mean over images (vision) or the class prompts (text).
    var firingRates: [Rate]
    var throughput: Throughput
}

/// Per-image outputs of one batch.
private struct BatchOutput {
    var snnTop: [[Int]] = []
    var annTop: [[Int]] = []
    var paper: [Double] = []
    var fuller: [Double] = []
    var macs: [Double] = []
    var acs: [Double] = []
    var spikes: [Int] = []
    var neurons: [Int] = []
}

/// A value shared by worker threads under a lock.
private final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func with<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Zero-shot accuracy on Fashion-MNIST, CIFAR-10/100 (binary) or an image folder: spiking model vs ANN twin, agreement, confusion, energy, firing rates, throughput.",
        discussion: """
            --classes-file: one class name per line (blank lines and lines starting with # are ignored). Plain lines
            replace the class list, in label order (line i is label i); lines starting with '+' extend it with
            distractor classes that only compete (e.g. '+sock'). A file of only '+' lines extends the default classes.
            Label i counts as correct iff the arg-max is class i.
            --prompts-file: the same, but each line is a whole free-text prompt ("a knitted sweater with long
            sleeves") used without templates.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var data: DatasetOptions
    @OptionGroup var change: InterventionOptions

    @Flag(help: "Machine-readable output.")
    var json = false

    func run() throws {
        try SpikeCLIPCommand.guarded {
            let ctx = try model.load()
            let result = try data.evaluate(ctx, interventions: try change.set(for: ctx), progress: stderrIsTerminal && !json)
            if json { try printJSON(result); return }
            printText(result)
        }
    }

    func printText(_ r: EvalJSON) {
        if let note = r.note { say("note: \(note)") }
        say("\(r.dataset) \(r.split), \(r.images) images; checkpoint \(r.checkpoint)")
        let annName = r.annImageEncoder == "clip" ? "CLIP" : "ANN twin"
        let annSide: String
        switch (r.annImageEncoder, r.annTextEncoder) {
        case (nil, _): annSide = "none (no CLIP folder named by this checkpoint)"
        case ("clip", _): annSide = "CLIP image tower vs CLIP text tower"
        case (_, "minilm"): annSide = "ANN twin vs MiniLM"
        default: annSide = "ANN twin vs the spiking text embeddings (no ANN text model)"
        }
        say("\(r.classes.count) classes (\(r.labelClasses) mapped to labels) x \(r.templates.count) templates; ANN side: " + annSide)
        if let iv = r.interventions { say("interventions on the spiking side: " + terminalText(iv.summary)) }
        say("")
        say("                  top-1     top-5")
        say(String(format: "spiking model   %6.2f%%   %6.2f%%", r.spiking.top1 * 100, r.spiking.top5 * 100))
        if let ann = r.ann { say(pad(annName, 14) + String(format: "  %6.2f%%   %6.2f%%", ann.top1 * 100, ann.top5 * 100)) }
        if let agreement = r.agreement { say(String(format: "agreement (same top-1): %.2f%%", agreement * 100)) }
        // Beyond a screenful of classes (the open-vocabulary sets: hundreds) the tables stay in --json.
        guard r.classes.count <= Self.tableClasses else {
            say(); say("confusion matrix and per-class accuracy: \(r.classes.count) classes, see --json")
            printEnergyRatesThroughput(r, annName: annName)
            return
        }
        say(); say("confusion (spiking model; rows: true label, columns: predicted class):")
        let names = r.classes.map { String($0.prefix(6)) }
        say(pad("", 13) + names.map { rightAligned($0, 7) }.joined())
        for (y, row) in r.spiking.confusion.enumerated() {
            let label = y < r.classes.count ? r.classes[y] : "label \(y)"
            say(pad(String(label.prefix(12)), 13) + row.map { rightAligned(String($0), 7) }.joined())
        }
        say(); say("per-class top-1 (of each label's images): spiking model" + (r.ann == nil ? "" : " / \(annName)"))
        for (y, acc) in r.spiking.perClass.enumerated() {
            let label = y < r.classes.count ? r.classes[y] : "label \(y)"
            // A label without images in this run has no accuracy ("-").
            let seen = y < r.spiking.confusion.count && r.spiking.confusion[y].reduce(0, +) > 0
            let ann = r.ann.map { y < $0.perClass.count ? (seen ? String(format: "  %6.2f%%", $0.perClass[y] * 100) : "        -") : "" } ?? ""
            say("  " + pad(String(label.prefix(24)), 25) + (seen ? String(format: "%6.2f%%", acc * 100) : "      -") + ann)
        }
        printEnergyRatesThroughput(r, annName: annName)
    }

    /// Classes up to which the text output prints the confusion matrix and per-class accuracy.
    static let tableClasses = 24

    func printEnergyRatesThroughput(_ r: EvalJSON, annName: String) {
        let e = r.energy
        say(); say("energy per image, mean: SNN \(formatEnergy(picojoules: e.snnPaperPJMean)) paper convention, \(formatEnergy(picojoules: e.snnFullerPJMean)) fuller estimate"
              + " (\(formatCount(e.snnMACsMean)) MACs + \(formatCount(e.snnACsMean)) ACs)")
        if let paper = e.annPaperPJ, let fuller = e.annFullerPJ, let macs = e.annMACs {
            say("                        \(annName) \(formatEnergy(picojoules: paper)) paper convention, \(formatEnergy(picojoules: fuller)) fuller estimate (\(formatCount(macs)) MACs)")
        }
        say("                        \(e.constants.source)")
        say(); say("mean firing rate per LIF layer:")
        for rate in r.firingRates { say("  " + pad(rate.layer, 36) + String(format: " %6.2f%%", rate.firingRate * 100)) }
        let t = r.throughput
        func rate(_ r: Double) -> String { String(format: r >= 10 ? "%.0f" : "%.2f", r) }
        let annPart = t.annImagesPerSecond.map { ", \(annName) \(rate($0)) images/s" + String(format: " (%.2f s)", t.annSeconds ?? 0) } ?? ""
        say(); say("throughput (\(t.threads) worker thread\(t.threads == 1 ? "" : "s"), batch \(t.batchSize)): spiking encoder \(rate(t.spikingImagesPerSecond)) images/s"
                   + String(format: " (%.2f s, incl. recording and energy accounting)", t.spikingSeconds)
                   + annPart + String(format: "; text %.2f s; total %.2f s", t.textSeconds, t.totalSeconds))
    }
}

/// The data set, classes, templates and batching of a zero-shot evaluation (`eval`, `sweep`).
struct DatasetOptions: ParsableArguments {

    @Option(help: "Dataset: fashion-mnist, cifar10 or cifar100 (the binary distributions), folder (one sub-folder of images per class), or open-heldout / open-seen-test (the open-vocabulary default's held-out concepts and held-out pictures of seen concepts, rebuilt from the installed emoji and clip-art packages).")
    var dataset = "fashion-mnist"

    @Option(help: "Split: test or train.")
    var split = "test"

    @Option(help: "Evaluate only the first N images.")
    var limit: Int?

    @Option(help: "Class names file (see below).")
    var classesFile: String?

    @Option(help: "Prompt templates file, one template with {} per line (default: the checkpoint's templates; CLIP's 18 CIFAR templates for cifar10/cifar100).")
    var templatesFile: String?

    @Option(help: "Free-text class descriptions, one whole prompt per line in label order, used as written (no templates); '+' lines add distractors, as in --classes-file.")
    var promptsFile: String?

    @Option(help: "Folder holding the data set (default for fashion-mnist: \(FashionMNIST.defaultDirectory); for open-*: the folder of sets.json, default assets/open-vocabulary; required otherwise).")
    var dataDir: String?

    @Option(help: "Images per forward pass.")
    var batchSize = 100

    @Option(help: "Worker threads (default: the number of CPU cores).")
    var threads: Int?

    func validate() throws {
        guard Self.datasets.contains(dataset) else {
            throw ValidationError("--dataset '\(quotedPreview(dataset))' is not one of \(Self.datasets.joined(separator: ", "))")
        }
        guard dataset == "fashion-mnist" || dataset.hasPrefix("open-") || dataDir != nil else { throw ValidationError("--dataset \(dataset) needs --data-dir") }
        guard split == "test" || split == "train" else { throw ValidationError("--split must be test or train, got '\(split)'") }
        if let limit { guard limit >= 1 else { throw ValidationError("--limit must be >= 1") } }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be >= 1") }
        if let threads { guard threads >= 1 else { throw ValidationError("--threads must be >= 1") } }
        if promptsFile != nil {
            guard classesFile == nil, templatesFile == nil else {
                throw ValidationError("--prompts-file replaces --classes-file and --templates-file; give one of them")
            }
        }
    }

    /// The class list file in use: --prompts-file (whole prompts) or --classes-file (names for the templates).
    var classListFile: String? { promptsFile ?? classesFile }

    static let datasets = ["fashion-mnist", "cifar10", "cifar100", "folder"] + OpenVocabularySet.sets.map { "open-" + $0 }

    /// Reads a list file: trimmed lines, blank and `#` lines dropped.
    static func readLines(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw UserError(description: "\(path): cannot read file") }
        guard let text = String(data: data, encoding: .utf8) else { throw UserError(description: "\(path): not UTF-8 text") }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    /// Class list from the defaults and an optional file (plain lines replace, `+` lines extend).
    static func classes(defaults: [String], file: [String]?) -> [String] {
        guard let file else { return defaults }
        let base = file.filter { !$0.hasPrefix("+") }
        let extra = file.filter { $0.hasPrefix("+") }.map { String($0.dropFirst()).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return (base.isEmpty ? defaults : base) + extra
    }

    /// Zero-shot evaluation of `ctx` on the data set these options name, under `interventions` (issue 17: the
    /// spiking side only; the ANN side is unchanged).
    /// - Throws: ``UserError``, data set, engine and intervention errors.
    func evaluate(_ ctx: ModelContext, interventions: InterventionSet = .none, progress showProgress: Bool) throws -> EvalJSON {
        let c = ctx.config
        let set: any LabeledImageSet
        switch dataset {
        case "cifar10": set = try CIFARSet(.cifar10, split: split, directory: dataDir ?? "")
        case "cifar100": set = try CIFARSet(.cifar100, split: split, directory: dataDir ?? "")
        case "folder": set = try ImageFolderSet(directory: dataDir ?? "")
        case let open where open.hasPrefix("open-"):
            // --data-dir: the folder holding sets.json (default assets/open-vocabulary, the checkout's manifest).
            let manifest = dataDir.map { ($0 as NSString).appendingPathComponent("sets.json") }
                ?? ExplorerOptions.findInRoots(OpenVocabularySet.defaultManifest) ?? OpenVocabularySet.defaultManifest
            set = try OpenVocabularySet(set: String(open.dropFirst(5)), manifest: manifest)
        default: set = try FashionMNISTSet(split: split, directory: dataDir ?? FashionMNIST.defaultDirectory)
        }
        let labelCount = set.classNames.count
        let isIDs = ctx.bundle.family.kind == ModelFamily.tokenIDs.kind
        let fileClasses = try classListFile.map(Self.readLines)
        if isIDs && (fileClasses.map { $0.filter { !$0.hasPrefix("+") }.isEmpty } ?? true) {
            throw UserError(description: "\(ctx.path) takes token ids (tokenizer kind 'ids'): give --classes-file with one token-id list per dataset label")
        }
        // The set's own class names. (Regression: Fashion-MNIST took the checkpoint's classes whenever it had ten,
        // which scored garments against the open-vocabulary default's "cat", "dog", ...)
        let defaults = set.classNames.map { $0.replacingOccurrences(of: "_", with: " ") }
        let classes = Self.classes(defaults: defaults, file: fileClasses)
        let labelClasses = classListFile == nil ? labelCount : min(labelCount, classes.count - (fileClasses?.filter { $0.hasPrefix("+") }.count ?? 0))
        if labelClasses < labelCount {
            printError("warning: only \(labelClasses) classes map to the \(labelCount) labels; labels \(labelClasses)-\(labelCount - 1) always count as wrong")
        }
        // A prompts file holds whole prompts: the identity template fills each in as written.
        let templates = promptsFile != nil ? ["{}"]
            : try templatesFile.map(Self.readLines) ?? (set is CIFARSet ? CIFARSet.clipTemplates : ctx.defaultTemplates)
        guard !templates.isEmpty else { throw UserError(description: "\(templatesFile ?? "templates"): no templates") }
        guard !classes.isEmpty else { throw UserError(description: "no classes") }

        // Data.
        let n = min(limit ?? set.count, set.count)
        let labels = try (0..<n).map(set.label(at:))
        let start = DispatchTime.now().uptimeNanoseconds
        func seconds(since t: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9 }

        // Text side: class embeddings for both sides.
        try interventions.validate(against: [ctx.pipeline.parts.spikingImage.graph, ctx.pipeline.parts.spikingText.graph], steps: c.T)
        let text = try ctx.pipeline.encodeText(PromptSet(classes: classes, templates: templates), mode: ctx.kernels, interventions: interventions)
        let textSeconds = seconds(since: start)

        // Images, preprocessed once: [N, C, H, W].
        let per = c.vision.inChannels * c.vision.imageSize[0] * c.vision.imageSize[1]
        var allPixels = [Float](); allPixels.reserveCapacity(n * per)
        for i in 0..<n { allPixels += ctx.preprocessor(try set.image(at: i)) }
        let pixels = allPixels
        guard pixels.count == n * per else {
            throw UserError(description: "\(set.name): images preprocess to \(pixels.count / max(n, 1)) values, the model expects \(per)")
        }

        let batches = stride(from: 0, to: n, by: batchSize).map { $0..<min($0 + batchSize, n) }
        let workers = max(1, min(threads ?? ProcessInfo.processInfo.activeProcessorCount, batches.count))
        // The workers are the parallelism; OpenBLAS's own threads would only spin and yield against them.
        if workers > 1 { EventKernels.setThreads(1) }
        let layerNames = ctx.model.vision.lifLayerNames
        let k5 = min(5, classes.count)
        let progress = Progress(total: 2 * n, enabled: showProgress)
        let pipeline = ctx.pipeline

        // Phase 1: spiking encoder (event kernels unless --kernels says otherwise) with recording and energy accounting.
        let snnOut = Locked([BatchOutput](repeating: BatchOutput(), count: batches.count))
        let failure = Locked<Error?>(nil)
        let t1 = DispatchTime.now().uptimeNanoseconds
        runParallel(count: batches.count, workers: workers) { j in
            let r = batches[j]
            do {
                let out = try pipeline.analyze(pixels: Array(pixels[(r.lowerBound * per)..<(r.upperBound * per)]), batch: r.count, text: text,
                                               options: AnalysisOptions(mode: ctx.kernels, ann: false, interventions: interventions))
                var o = BatchOutput()
                for image in out.images {
                    o.snnTop.append(image.snn!.topK(k5))
                    let e = image.energy!
                    o.paper.append(e.totalPJ(.paper)); o.fuller.append(e.totalPJ(.fuller))
                    o.macs.append(e.totalMACs); o.acs.append(e.totalACs)
                }
                for name in layerNames {
                    guard let l = out.recording[name] else { continue }
                    // Over the steps run (a pass stopped early records all T, but only its first steps count).
                    let run = min(l.spikes.count, l.spikes.count / c.T * (interventions.steps ?? c.T))
                    o.spikes.append(l.spikes.ones(in: 0..<run))
                    o.neurons.append(run)
                }
                snnOut.with { $0[j] = o }
            } catch {
                failure.with { $0 = $0 ?? error }
            }
            progress.advance(r.count)
        }
        let spikingSeconds = seconds(since: t1)
        if let e = failure.with({ $0 }) { throw e }

        // Phase 2: the ANN image side (the twin on the same pixels; CLIP on its own view, prepared per batch).
        let annImage = pipeline.parts.annImage
        let annOut = Locked([[[Int]]](repeating: [], count: batches.count))
        let t2 = DispatchTime.now().uptimeNanoseconds
        if let annImage {
            let ownView = annImage.ownInput != nil
            runParallel(count: batches.count, workers: workers) { j in
                let r = batches[j]
                do {
                    let clip = ownView ? try r.flatMap { pipeline.prepare(try set.image(at: $0)).clip ?? [] } : nil
                    let out = try pipeline.analyze(pixels: Array(pixels[(r.lowerBound * per)..<(r.upperBound * per)]), batch: r.count, text: text,
                                                   options: AnalysisOptions(spiking: false, energy: false), annPixels: clip)
                    let tops = out.images.map { $0.ann?.topK(k5) ?? [] }
                    annOut.with { $0[j] = tops }
                } catch {
                    failure.with { $0 = $0 ?? error }
                }
                progress.advance(r.count)
            }
        } else {
            progress.advance(n)
        }
        let annSeconds = annImage == nil ? nil : seconds(since: t2)
        progress.finish()
        if let e = failure.with({ $0 }) { throw e }

        let snn = snnOut.with { $0 }
        let snnTop = snn.flatMap(\.snnTop)
        let annTop = annOut.with { $0 }.flatMap { $0 }
        func side(_ top: [[Int]]) -> SideResultJSON {
            var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes.count), count: labelCount)
            var hit1 = 0, hit5 = 0
            for (i, y) in labels.enumerated() {
                confusion[y][top[i][0]] += 1
                if top[i][0] == y { hit1 += 1 }
                if top[i].contains(y) { hit5 += 1 }
            }
            let perClass = (0..<labelCount).map { y -> Double in
                let total = confusion[y].reduce(0, +)
                return total == 0 ? 0 : Double(y < classes.count ? confusion[y][y] : 0) / Double(total)
            }
            return SideResultJSON(top1: Double(hit1) / Double(n), top5: Double(hit5) / Double(n), confusion: confusion, perClass: perClass)
        }
        let hasANN = annImage != nil && annTop.count == n && annTop.allSatisfy { !$0.isEmpty }
        let agreement = hasANN ? Double(zip(snnTop, annTop).filter { $0[0] == $1[0] }.count) / Double(n) : nil
        func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(max(1, xs.count)) }
        let annEnergy = hasANN ? annImage?.energy(constants: .horowitz45nm) : nil
        var rates: [EvalJSON.Rate] = []
        for (li, name) in layerNames.enumerated() {
            let spikes = snn.reduce(0) { $0 + ($1.spikes.count > li ? $1.spikes[li] : 0) }
            let neurons = snn.reduce(0) { $0 + ($1.neurons.count > li ? $1.neurons[li] : 0) }
            rates.append(.init(layer: name, firingRate: tidy(Double(spikes) / Double(max(1, neurons)))))
        }
        for l in text.recording.layers { rates.append(.init(layer: l.name, firingRate: tidy(l.firingRate()))) }
        let total = seconds(since: start)
        return EvalJSON(
            checkpoint: ctx.path, note: ctx.note, dataset: dataset, split: split, images: n, classes: classes,
            labelClasses: labelClasses, templates: templates, annTextEncoder: text.annTextEncoder,
            annImageEncoder: hasANN ? annImage?.name : nil, interventions: interventions.isEmpty ? nil : interventions, spiking: side(snnTop), ann: hasANN ? side(annTop) : nil, agreement: agreement,
            energy: .init(
                snnPaperPJMean: tidy(mean(snn.flatMap(\.paper))), snnFullerPJMean: tidy(mean(snn.flatMap(\.fuller))),
                snnMACsMean: tidy(mean(snn.flatMap(\.macs))), snnACsMean: tidy(mean(snn.flatMap(\.acs))),
                annPaperPJ: annEnergy.map { tidy($0.totalPJ(.paper)) }, annFullerPJ: annEnergy.map { tidy($0.totalPJ(.fuller)) },
                annMACs: annEnergy.map { tidy($0.totalMACs) }, constants: .horowitz45nm),
            firingRates: rates,
            throughput: .init(
                threads: workers, batchSize: batchSize, textSeconds: textSeconds, spikingSeconds: spikingSeconds,
                annSeconds: annSeconds, totalSeconds: total, spikingImagesPerSecond: Double(n) / spikingSeconds,
                annImagesPerSecond: annSeconds.map { Double(n) / $0 }, imagesPerSecond: Double(n) / total))
    }
}

/// Runs `body(0..<count)` on `workers` threads, each taking the next index.
private func runParallel(count: Int, workers: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let next = Locked(0)
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        while true {
            let j = next.with { v -> Int in defer { v += 1 }; return v }
            if j >= count { break }
            body(j)
        }
    }
}

/// A progress bar on stderr (only when stderr is a terminal).
private final class Progress: @unchecked Sendable {
    let total: Int
    let enabled: Bool
    private let lock = NSLock()
    private var done = 0

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled
    }

    func advance(_ n: Int) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        done += n
        let width = 40
        let filled = total == 0 ? width : done * width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(done)/\(total)".utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
