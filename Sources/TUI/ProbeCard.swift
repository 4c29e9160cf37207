import Foundation
import SpikeCLIP
import Visualize

/// The software version written into probe cards and session records.
public let spikeclipVersion = "0.18.0"

/// A probe card (issue 18): one probe of the model written down so that someone else can check it: Markdown for
/// people, JSON with every number, and the raster and spatial map as PNG and SVG. Built from an explorer's
/// ``Analysis`` (the key `C` and `spikeclip card` both go through ``Explorer/writeCard(to:force:)``); deterministic
/// for the same inputs (no dates, no timings).
public struct ProbeCard: Codable, Sendable {
    public struct Checkpoint: Codable, Sendable {
        public var file: String
        public var sha256: String
        /// The checkpoint's own provenance record (data, seed, accuracies), verbatim.
        public var provenance: JSONValue?
    }

    public struct Image: Codable, Sendable {
        public var title: String
        /// The file read (absent for a Fashion-MNIST test record), and its SHA-256.
        public var path: String?
        public var sha256: String?
        public var label: String?
        /// `C x H x W` as the spiking encoder reads it.
        public var shape: [Int]
    }

    /// One class: both sides' cosine and probability (the ANN side absent without one), the text-embedding cosine.
    public struct ClassRow: Codable, Sendable {
        public var name: String
        public var snnCosine: Float
        public var snnProbability: Float
        public var annCosine: Float?
        public var annProbability: Float?
        public var textCosine: Float?
        enum CodingKeys: String, CodingKey {
            case name, snnCosine = "snn_cos", snnProbability = "snn_p", annCosine = "ann_cos", annProbability = "ann_p", textCosine = "text_cos"
        }
    }

    public struct EnergyRow: Codable, Sendable {
        public var name: String
        public var macs: Double
        public var acs: Double
        public var paperPJ: Double
        public var fullerPJ: Double
        enum CodingKeys: String, CodingKey { case name, macs, acs, paperPJ = "paper_pj", fullerPJ = "fuller_pj" }
    }

    public struct EnergyTable: Codable, Sendable {
        public var layers: [EnergyRow]
        public var totalMACs: Double
        public var totalACs: Double
        public var totalPaperPJ: Double
        public var totalFullerPJ: Double
        enum CodingKeys: String, CodingKey {
            case layers, totalMACs = "total_macs", totalACs = "total_acs", totalPaperPJ = "total_paper_pj", totalFullerPJ = "total_fuller_pj"
        }
        init(_ r: EnergyReport) {
            layers = r.layers.map { EnergyRow(name: $0.name, macs: $0.totalMACs, acs: $0.totalACs, paperPJ: $0.energyPJ(.paper, r.constants), fullerPJ: $0.energyPJ(.fuller, r.constants)) }
            totalMACs = r.totalMACs
            totalACs = r.totalACs
            totalPaperPJ = r.totalPJ(.paper)
            totalFullerPJ = r.totalPJ(.fuller)
        }
    }

    public struct Energy: Codable, Sendable {
        /// The convention shown in the explorer when the card was written, and what each convention counts.
        public var convention: String
        public var conventions: [String: String]
        public var constants: EnergyConstants
        public var snn: EnergyTable
        public var ann: EnergyTable?
    }

    public struct Layer: Codable, Sendable {
        public var name: String
        public var shape: [Int]
        public var firingRate: Double
        enum CodingKeys: String, CodingKey { case name, shape, firingRate = "firing_rate" }
    }

    public var format = "spikeclip-probe-card"
    public var version = 1
    public var software: String
    public var checkpoint: Checkpoint
    public var image: Image
    public var classes: [String]
    public var templates: [String]
    public var ensemble: Bool
    public var prompts: [String]
    /// T, the time steps of the spiking forward pass.
    public var steps: Int
    public var logitScale: Double
    /// The interventions applied to the spiking side (absent: none).
    public var interventions: InterventionSet?
    /// `ANN twin` or `CLIP`; absent without an ANN side.
    public var annSide: String?
    public var scores: [ClassRow]
    public var snnTop1: String
    public var annTop1: String?
    public var klANNtoSNN: Double?
    public var imageCosine: Float?
    public var energy: Energy
    /// Firing rate of every spiking layer (image encoder, then the text encoder over all prompts).
    public var layers: [Layer]
    /// The layer drawn in raster.* and spatial.*.
    public var rasterLayer: String
    public var files: [String]

    enum CodingKeys: String, CodingKey {
        case format, version, software, checkpoint, image, classes, templates, ensemble, prompts, steps, logitScale = "logit_scale"
        case interventions, annSide = "ann_side", scores, snnTop1 = "snn_top1", annTop1 = "ann_top1", klANNtoSNN = "kl_ann_snn"
        case imageCosine = "image_cos", energy, layers, rasterLayer = "raster_layer", files
    }
}

/// Why a card could not be written: one line naming the path.
public struct CardError: Error, CustomStringConvertible, Equatable {
    public let description: String
}

extension ProbeCard {
    /// The card's files, in the order written.
    static let fileNames = ["card.md", "card.json", "raster.png", "raster.svg", "spatial.png", "spatial.svg"]

    /// The card of `analysis` of `image`.
    /// - Parameters:
    ///   - layer: the spiking layer drawn (raster of up to 256 neurons from `firstNeuron`; the spatial map of its
    ///     spikes summed over channels and time steps, or of the first image-encoder layer with a spatial grid).
    static func make(analysis a: Analysis, image: ImageInput, imagePath: String?, checkpoint: Checkpoint, templates: [String], ensemble: Bool,
                     logitScale: Double, convention: EnergyConvention, layer: String) throws -> ProbeCard {
        let k = a.classNames.count
        let rows = (0..<k).map { c in
            ClassRow(name: a.classNames[c], snnCosine: a.snn.cosines[c], snnProbability: a.snn.probabilities[c], annCosine: a.ann?.cosines[c],
                     annProbability: a.ann?.probabilities[c], textCosine: a.textCosines?[c])
        }
        let layers = a.visionRecording.layers.map { Layer(name: $0.name, shape: $0.shape, firingRate: $0.firingRate(item: 0)) }
            + a.textRecording.layers.map { Layer(name: $0.name, shape: $0.shape, firingRate: $0.firingRate()) }
        let energy = Energy(
            convention: convention.rawValue,
            conventions: Dictionary(uniqueKeysWithValues: EnergyConvention.allCases.map { ($0.rawValue, $0.title) }),
            constants: a.visionEnergy.constants, snn: EnergyTable(a.visionEnergy), ann: a.annEnergy.map(EnergyTable.init))
        return ProbeCard(
            software: "spikeclip \(spikeclipVersion)", checkpoint: checkpoint,
            image: Image(title: image.title, path: imagePath, sha256: try imagePath.map { try sha256Hex(path: $0) }, label: image.label,
                         shape: [image.pixels.count / max(1, image.previewHeight * image.previewWidth), image.previewHeight, image.previewWidth]),
            classes: a.classNames, templates: templates, ensemble: ensemble, prompts: a.prompts.map(\.text),
            steps: a.visionRecording.layers.first?.steps ?? 0, logitScale: logitScale, interventions: a.interventions.isEmpty ? nil : a.interventions,
            annSide: a.annName, scores: rows, snnTop1: a.classNames[a.snn.top1], annTop1: a.ann.map { a.classNames[$0.top1] },
            klANNtoSNN: a.klANNtoSNN, imageCosine: a.imageCosine, energy: energy, layers: layers, rasterLayer: layer, files: fileNames)
    }

    /// The Markdown page: what was probed, the ANN-vs-SNN table, the energy table with its constants, the figures.
    var markdown: String {
        func cell(_ s: String) -> String { terminalText(s).replacingOccurrences(of: "|", with: "\\|") }
        func f(_ x: Float?) -> String { x.map { String(format: "%+.4f", $0) } ?? "" }
        func p(_ x: Float?) -> String { x.map { String(format: "%.4f", $0) } ?? "" }
        var m = "# SpikeCLIP probe card\n\n"
        m += "- checkpoint: `\(cell(checkpoint.file))` (sha256 `\(checkpoint.sha256)`)\n"
        m += "- image: \(cell(image.title))" + (image.label.map { ", label \(cell($0))" } ?? "") + (image.sha256.map { " (sha256 `\($0)`)" } ?? "") + "\n"
        m += "- input \(image.shape.map(String.init).joined(separator: "x")), T = \(steps) time steps, logit scale \(logitScale)\n"
        m += "- \(classes.count) classes x \(ensemble ? templates.count : 1) template(s)" + (ensemble ? " (ensembled)" : "") + ": "
            + (ensemble ? templates : Array(templates.prefix(1))).map { "`\(cell($0))`" }.joined(separator: ", ") + "\n"
        m += "- interventions: " + (interventions.map { cell($0.summary) } ?? "none") + "\n"
        m += "- software: \(software)\n\n"
        m += "## Zero-shot scores\n\nSNN top-1: **\(cell(snnTop1))**" + (annTop1.map { "; \(annSide ?? "ANN") top-1: **\(cell($0))**" } ?? "")
            + (klANNtoSNN.map { String(format: "; KL(ANN || SNN) = %.4f nats", $0) } ?? "") + (imageCosine.map { String(format: "; image cos(SNN, ANN) = %.4f", $0) } ?? "") + "\n\n"
        m += "| class | SNN cos | SNN p | ANN cos | ANN p | text cos |\n|---|---:|---:|---:|---:|---:|\n"
        for r in scores { m += "| \(cell(r.name)) | \(f(r.snnCosine)) | \(p(r.snnProbability)) | \(f(r.annCosine)) | \(p(r.annProbability)) | \(f(r.textCosine)) |\n" }
        m += "\n## Energy per image\n\nConstants: MAC \(energy.constants.macPJ) pJ, AC \(energy.constants.acPJ) pJ (\(cell(energy.constants.source))).\n"
        for (name, title) in energy.conventions.sorted(by: { $0.key > $1.key }) { m += "- \(name): \(cell(title))\n" }
        for (title, t) in [("spiking image encoder", energy.snn)] + (energy.ann.map { [("\(annSide ?? "ANN") image encoder", $0)] } ?? []) {
            m += "\n\(title):\n\n| layer | MACs | ACs | paper (pJ) | fuller (pJ) |\n|---|---:|---:|---:|---:|\n"
            for l in t.layers { m += "| \(cell(l.name)) | \(formatCount(l.macs)) | \(formatCount(l.acs)) | \(String(format: "%.1f", l.paperPJ)) | \(String(format: "%.1f", l.fullerPJ)) |\n" }
            m += "| total | \(formatCount(t.totalMACs)) | \(formatCount(t.totalACs)) | \(String(format: "%.1f", t.totalPaperPJ)) | \(String(format: "%.1f", t.totalFullerPJ)) |\n"
        }
        m += "\n## Spikes\n\n| layer | shape | firing rate |\n|---|---|---:|\n"
        for l in layers { m += "| \(cell(l.name)) | \(l.shape.map(String.init).joined(separator: "x")) | \(String(format: "%.2f%%", l.firingRate * 100)) |\n" }
        m += "\nRaster of \(cell(rasterLayer)): ![raster](raster.png) ([SVG](raster.svg)); spatial map: ![spatial map](spatial.png) ([SVG](spatial.svg)).\n"
        return m
    }

    /// Writes `files` as the directory `directory`, atomically: into a fresh hidden folder beside it, then renamed into
    /// place. An existing `directory` is replaced only with `force`, and only when it is a probe card (holds a
    /// card.json) or empty.
    /// - Throws: ``CardError`` naming the path.
    static func writeDirectory(_ files: [(name: String, bytes: [UInt8])], to directory: String, force: Bool) throws {
        let fm = FileManager.default
        let target = (directory as NSString).standardizingPath
        let parent = (target as NSString).deletingLastPathComponent.isEmpty ? "." : (target as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: parent, isDirectory: &isDir), isDir.boolValue else { throw CardError(description: "\(directory): folder '\(parent)' does not exist") }
        let exists = fm.fileExists(atPath: target, isDirectory: &isDir)
        if exists {
            guard force else { throw CardError(description: "\(directory): exists (use --force to replace it)") }
            let contents = (try? fm.contentsOfDirectory(atPath: target)) ?? ["?"]
            guard isDir.boolValue, contents.isEmpty || contents.contains("card.json") else {
                throw CardError(description: "\(directory): exists and is not a probe card folder; not replaced")
            }
        }
        var template = Array(((parent as NSString).appendingPathComponent(".\((target as NSString).lastPathComponent).XXXXXX")).utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw CardError(description: "\(directory): cannot create a folder in '\(parent)': \(String(cString: strerror(errno)))")
        }
        let temp = String(cString: template.map { $0 })
        do {
            for f in files { try Data(f.bytes).write(to: URL(fileURLWithPath: (temp as NSString).appendingPathComponent(f.name))) }
            chmod(temp, 0o755)
            if exists {
                let old = temp + ".old"
                try fm.moveItem(atPath: target, toPath: old)
                try fm.moveItem(atPath: temp, toPath: target)
                try? fm.removeItem(atPath: old)
            } else {
                guard rename(temp, target) == 0 else { throw CardError(description: "\(directory): \(String(cString: strerror(errno)))") }
            }
        } catch let e as CardError {
            try? fm.removeItem(atPath: temp)
            throw e
        } catch {
            try? fm.removeItem(atPath: temp)
            throw CardError(description: "\(directory): write failed: \(error.localizedDescription)")
        }
    }

    /// The spatial map figure: spikes per position of `layer`'s grid, summed over channels and time steps.
    static func spatialFigure(_ layer: LayerRecording, title: String) -> Figure? {
        guard let (gh, gw, channels) = SpikesPanel.spatialGrid(layer) else { return nil }
        var counts = [Int](repeating: 0, count: gh * gw)
        for t in 0..<layer.steps {
            let s = layer.spikes(step: t, item: 0)
            for c in 0..<channels { for i in 0..<(gh * gw) { counts[i] += Int(s[s.startIndex + c * gh * gw + i]) } }
        }
        // Darkest = the busiest position here (contrast), said in the caption beside the possible maximum.
        let maximum = max(1, counts.max() ?? 1)
        let cell = max(4, min(24, 384 / max(gh, gw)))
        let top = 40, left = 16
        let width = max(left * 2 + gw * cell, 6 * max(title.count, 40) + 2 * left), height = top + gh * cell + 40
        var items: [FigureItem] = [.rect(x: 0, y: 0, width: width, height: height, color: (255, 255, 255))]
        items.append(.text(x: left, y: 8, title, color: (0x20, 0x20, 0x20), anchor: .start))
        for y in 0..<gh {
            for x in 0..<gw {
                // White (no spike) to dark blue (every channel at every step).
                let f = Double(counts[y * gw + x]) / Double(maximum)
                let shade = { (from: Double, to: Double) in UInt8(max(0, min(255, from + (to - from) * f))) }
                items.append(.rect(x: left + x * cell, y: top + y * cell, width: cell, height: cell, color: (shade(255, 0x1F), shade(255, 0x4E), shade(255, 0xA8))))
            }
        }
        items.append(.text(x: left, y: top + gh * cell + 12, "grid \(gh)x\(gw); darkest = \(maximum) spikes (the most at one position; at most \(channels) channels x T = \(layer.steps))",
                           color: (0x20, 0x20, 0x20), anchor: .start))
        return Figure(width: width, height: height, items: items)
    }
}

extension Figure {
    /// The figure as a PNG file (libpng, through the engine's ``PNGEncoder``).
    public func png() throws -> [UInt8] {
        try PNGEncoder.encode(pixels: pixels(), width: width, height: height, channels: 3)
    }
}

extension RasterData {
    /// The plotted window of batch item 0 of `rec`: up to `maxNeurons` neurons from `firstNeuron`, all time steps;
    /// `source` (an image or prompt) goes in the subtitle. Titles are escaped once here for every output format.
    /// - Throws: ``CardError`` when `firstNeuron` is outside the layer.
    public init(recording rec: LayerRecording, layer: String, source: String, firstNeuron: Int, maxNeurons: Int, item: Int = 0) throws {
        let total = rec.neuronsPerItem
        guard firstNeuron < total else { throw CardError(description: "--first-neuron \(firstNeuron) is outside the layer's \(total) neurons") }
        let n = min(maxNeurons, total - firstNeuron)
        var spikes = [UInt8](repeating: 0, count: rec.steps * n)
        for t in 0..<rec.steps {
            let s = rec.spikes(step: t, item: item)
            for i in 0..<n { spikes[t * n + i] = s[s.startIndex + firstNeuron + i] }
        }
        let shape = rec.shape.dropFirst(2).map(String.init).joined(separator: "x")
        self.init(
            title: terminalText("Spike raster: \(layer)"),
            subtitle: terminalText("\(source); neurons \(firstNeuron)-\(firstNeuron + n - 1) of \(total)\(rec.shape.count > 3 ? " (\(shape))" : ""); T = \(rec.steps); layer firing rate "
                + String(format: "%.1f%%", rec.firingRate(item: item) * 100)),
            layer: layer, steps: rec.steps, firstNeuron: firstNeuron, neurons: n, totalNeurons: total, spikes: spikes,
            layerRate: rec.firingRate(item: item))
    }
}
