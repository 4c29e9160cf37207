import CBLAS
import Dispatch
import Foundation
import SpikeCLIP

/// One timed measurement of `spikeclip bench --checkpoint` (milliseconds per call unless `unit` says otherwise).
struct BenchLine: Codable {
    var label: String
    var p50: Double
    var p95: Double
    /// What one call computes: images or prompts.
    var items: Int
    /// Dense-equivalent rate of the call at p50 (GFLOP/s, 2 per MAC) and its fraction of `sgemmGflops`.
    var denseGflops: Double?
    var sgemmFraction: Double?
    /// The SGEMM rate measured beside this line: the median of three SGEMMs 1024^3 on all threads right before its
    /// timed calls and three right after.
    var sgemmGflops: Double?
    /// The PyTorch reference's p50 for the same work and ours divided by it (nil when the reference did not run).
    var torchP50: Double?
    var ratio: Double?
}

/// The whole run, as `--json` prints it.
struct BenchReport: Codable {
    var checkpoint: String
    var threads: Int
    var isa: String
    var sgemmGflops: Double
    var sgemmShape: [Int]
    var spikingDenseMacs: Double
    var annDenseMacs: Double?
    var firingRate: Double
    /// The bench image's accumulates (``EnergyAccounting``, attention included), the event path's accumulate rate
    /// measured in this run (per second, all threads) and the floor of our kernels for the spiking encoder in ms
    /// (``EventKernels/floorMilliseconds(graph:energy:accumulateRate:sgemmGflops:)``).
    var accumulatesPerImage: Double
    var accumulateRate: Double
    var kernelFloorMs: Double
    var torch: String?
    var lines: [BenchLine]
}

/// The synthetic inputs both sides time (the same numbers reach the PyTorch reference through a JSON file): a
/// pseudo-random image in `[-2, 2)` after normalisation (Knuth's multiplicative hash of the index) and one prompt of
/// ten distinct token ids.
func benchInputs(_ c: ModelConfig) -> (pixels: [Float], ids: [Int]) {
    let n = c.vision.inChannels * c.vision.imageSize.reduce(1, *)
    let pixels = (0..<n).map { i -> Float in Float(Double((UInt64(i) &* 2654435761 &+ 12345) % 4294967296) / 4294967296.0 * 4 - 2) }
    let v = c.text.embedding.vocabSize, l = c.text.contextLength
    var ids = [Int](repeating: c.tokenizer.padId, count: l)
    for j in 0..<min(10, l) { ids[j] = (j * 7919 + 11) % max(1, v) }
    return (pixels, ids)
}

/// `spikeclip bench --checkpoint FILE`: our engine beside the PyTorch reference on any checkpoint (issue 15).
func benchCheckpoint(path: String, iterations: Int, json: Bool) throws {
    let model = try SpikeCLIPModel(path: path)
    let c = model.config
    let (one, ids) = benchInputs(c)
    let threads = EventKernels.threads
    let sgemm = EventKernels.measureSGEMM()
    let spikingMACs = model.vision.graph.denseMACs
    // The twin has the same layer shapes computed once (no time steps); its projection counts once either way.
    let proj = Double(c.vision.embedDims * c.vision.targetDim)
    let annMACs = model.annVision.map { _ in (spikingMACs - proj) / Double(c.T) + proj }
    var lines: [BenchLine] = []
    // A line with a dense-equivalent rate is compared with the SGEMM rate of the same minute: the machine's speed
    // drifts (SGEMM 150-300 GFLOP/s between runs on the 2-core build machine), so three SGEMMs on all threads run
    // right before the line's calls and three right after, and the line's fraction is its p50 rate over the median
    // of those six (not between calls: an SGEMM's 12 MiB would leave every timed call with cold caches).
    let probe = EventKernels.SGEMMProbe()
    func sgemmBeside() -> [Double] {
        let callThreads = EventKernels.threadSetting
        EventKernels.setThreads(0)
        defer { EventKernels.setThreads(callThreads) }
        return (0..<3).map { _ in probe.gflops() }
    }
    func measure(_ label: String, items: Int = 1, macs: Double? = nil, _ body: () throws -> Void) rethrows {
        let before = macs == nil ? [] : sgemmBeside()
        let ms = try Timing.milliseconds(iterations, body)
        let beside = macs == nil ? [] : before + sgemmBeside()
        let p50 = Timing.quantile(ms, 0.5), p95 = Timing.quantile(ms, 0.95)
        let rate = beside.isEmpty ? nil : Timing.quantile(beside, 0.5)
        let gflops = macs.map { 2 * $0 * Double(items) / (p50 / 1e3) / 1e9 }
        lines.append(BenchLine(label: label, p50: p50, p95: p95, items: items, denseGflops: gflops,
                               sgemmFraction: gflops.flatMap { g in rate.map { g / $0 } }, sgemmGflops: rate))
    }
    let (_, rec) = try model.vision.forward(pixels: one, batch: 1, mode: .event)
    let spikes = rec.layers.reduce(0.0) { $0 + Double($1.spikes.ones) }
    let neurons = rec.layers.reduce(0.0) { $0 + Double($1.spikes.count) }
    let energy = try EnergyAccounting.vision(rec, config: c, item: 0)
    let accumulateRate = EventKernels.measureAccumulateRate()
    let floorMs = EventKernels.floorMilliseconds(graph: model.vision.graph, energy: energy, accumulateRate: accumulateRate, sgemmGflops: sgemm)
    for mode in [KernelMode.event, .blas] {
        try measure("spiking image encoder, batch 1 (\(mode.rawValue))", macs: spikingMACs) {
            _ = try model.vision.forward(pixels: one, batch: 1, mode: mode, options: .none)
        }
    }
    try measure("spiking image encoder, batch 1 (event, record)", macs: spikingMACs) {
        _ = try model.vision.forward(pixels: one, batch: 1, mode: .event)
    }
    if let twin = model.annVision {
        try measure("ANN twin image encoder, batch 1", macs: annMACs) { _ = try twin.forward(pixels: one, batch: 1) }
    }
    try measure("spiking text encoder, 1 prompt (event)") { _ = try model.text.forward(tokenIds: [ids], mode: .event) }
    // Throughput as `spikeclip eval` runs it: one worker per core, single-threaded kernels, batches of 16.
    let batch = 16, workers = threads
    let many = [Float]((0..<batch).flatMap { _ in one })
    EventKernels.setThreads(1)
    defer { EventKernels.setThreads(0) }
    for mode in [KernelMode.event, .blas] {
        measure("eval throughput, \(workers) workers x batch \(batch) (\(mode.rawValue))", items: batch * workers, macs: spikingMACs) {
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                _ = try? model.vision.forward(pixels: many, batch: batch, mode: mode, options: .none)
            }
        }
    }
    EventKernels.setThreads(0)
    // The PyTorch reference on the same inputs, weights and thread count.
    let inputsFile = FileManager.default.temporaryDirectory.appendingPathComponent("spikeclip-bench-\(getpid()).json")
    try JSONSerialization.data(withJSONObject: ["pixels": one.map(Double.init), "ids": ids]).write(to: inputsFile)
    defer { try? FileManager.default.removeItem(at: inputsFile) }
    let torch = runPyTorchReference(["-m", "spikeclip_training.bench", path, "--iterations", String(iterations), "--threads", String(threads),
                                     "--inputs", inputsFile.path, "--batch", String(batch), "--json"])
    var torchVersion: String?
    switch torch {
    case let .success(data):
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        torchVersion = object?["torch"] as? String
        let p50s = (object?["p50"] as? [String: Double]) ?? [:]
        for (i, l) in lines.enumerated() {
            let key = l.label.hasPrefix("spiking image encoder, batch 1") ? "spiking_image"
                : l.label.hasPrefix("ANN twin") ? "ann_image" : l.label.hasPrefix("spiking text") ? "spiking_text"
                : l.label.hasPrefix("eval throughput") ? "spiking_image_batch" : ""
            // The reference's batch line is one batch on all threads: per image it is the same work as ours per image.
            guard var t = p50s[key] else { continue }
            if key == "spiking_image_batch" { t *= Double(l.items) / Double(batch) }
            lines[i].torchP50 = t
            lines[i].ratio = l.p50 / t
        }
    case let .failure(reason):
        if !json { say("PyTorch reference: not run (\(reason)); install it with pip install -r training/requirements-test.txt") }
    }
    let report = BenchReport(checkpoint: path, threads: threads, isa: EventKernels.isa, sgemmGflops: sgemm, sgemmShape: [1024, 1024, 1024],
                             spikingDenseMacs: spikingMACs, annDenseMacs: annMACs, firingRate: neurons > 0 ? spikes / neurons : 0,
                             accumulatesPerImage: energy.totalACs, accumulateRate: accumulateRate, kernelFloorMs: floorMs,
                             torch: torchVersion, lines: lines)
    if json { try printJSON(report); return }
    say("bench on \(path): \(iterations) iterations, \(threads) threads, event kernels \(report.isa), \(BLASCore.summary)")
    say(String(format: "SGEMM 1024^3 at start (best of 5): %.1f GFLOP/s; spiking encoder %.2f GMAC dense-equivalent per image, firing rate %.1f %%",
               sgemm, spikingMACs / 1e9, 100 * report.firingRate))
    if let torchVersion { say("PyTorch \(torchVersion) reference (training/spikeclip_training/bench.py), same weights, inputs and threads") }
    say(pad("", 50) + "   p50 ms   p95 ms  GFLOP/s  of SGEMM  torch p50    ratio")
    for l in lines {
        let g = l.denseGflops.map { String(format: "%8.1f  %7.0f%%", $0, 100 * (l.sgemmFraction ?? 0)) } ?? String(repeating: " ", count: 18)
        let t = l.torchP50.map { String(format: "  %9.3f  %6.2fx", $0, l.ratio ?? 0) } ?? ""
        say(pad(l.label, 50) + String(format: " %8.3f %8.3f ", l.p50, l.p95) + g + t)
    }
    say("ratio: our p50 / PyTorch's (below 1: we are faster); eval lines time \(workers * batch) images per call")
    say("of SGEMM: against the SGEMM rate beside each line (median of 3 SGEMMs 1024^3 before and 3 after it): "
        + lines.compactMap { l in l.sgemmGflops.map { String(format: "%.0f", $0) } }.joined(separator: " / ") + " GFLOP/s")
    say(String(format: "floor of our kernels, spiking encoder: %.1f ms per image (each layer's accumulates at the event "
               + "path's %.1f G/s measured now, or its dense MACs at the SGEMM rate, whichever is faster; %.2f G "
               + "accumulates in all; attention, neurons and pooling not counted)", floorMs, accumulateRate / 1e9, energy.totalACs / 1e9))
    if let spiking = lines.first, let t = spiking.torchP50, let ann = lines.first(where: { $0.label.hasPrefix("ANN twin") }),
       let annT = ann.torchP50, let annMACs {
        // Issue 15's batch-1 lines: the spiking encoder at 1/3 of PyTorch, the ANN twin at 1/2.
        say(String(format: "targets: spiking <= 1/3 of PyTorch = %.1f ms (floor %.1f ms); ANN twin <= 1/2 = %.1f ms, "
                   + "which needs %.0f GFLOP/s dense-equivalent (%.0f %% of SGEMM at start; its Winograd convs do fewer real "
                   + "multiplications)", t / 3, floorMs, annT / 2,
                   2 * annMACs / (annT / 2 / 1e3) / 1e9, 100 * 2 * annMACs / (annT / 2 / 1e3) / 1e9 / sgemm))
    }
    say("explorer on \(path) (120x40, every kernel at its default):")
    try benchExplorer(checkpoint: path, assets: ExplorerOptions.resolveAssets("assets"), iterations: iterations)
}


/// `spikeclip bench --crossover`: the event path against dense BLAS per official-size spiking layer and firing rate,
/// and the crossover each kind of layer would switch at (issue 15; docs/PERFORMANCE.md).
func benchCrossover(iterations: Int, json: Bool) throws {
    let (samples, estimate) = EventKernels.measureCrossover(repeats: iterations)
    struct Report: Codable { var threads: Int; var isa: String; var samples: [CrossoverSample]; var measured: EventKernels.Crossover; var inUse: EventKernels.Crossover }
    let report = Report(threads: EventKernels.threads, isa: EventKernels.isa, samples: samples, measured: estimate, inUse: EventKernels.crossover)
    if json { try printJSON(report); return }
    say("event path vs dense BLAS, random weights and Bernoulli spikes, \(report.threads) threads, \(report.isa), p50 of \(iterations)")
    say(pad("layer", 34) + "  rate   event ms    BLAS ms  event/BLAS")
    for s in samples {
        say(pad(s.layer, 34) + String(format: " %5.2f %10.3f %10.3f %9.2f", s.rate, s.eventMs, s.blasMs, s.eventMs / s.blasMs))
    }
    say(String(format: "crossover measured now: linear/1x1 %.2f, 3x3 %.2f, narrow 3x3 %.2f (in use: %.2f, %.2f, %.2f)",
               estimate.pointwise, estimate.conv3x3, estimate.conv3x3Narrow,
               report.inUse.pointwise, report.inUse.conv3x3, report.inUse.conv3x3Narrow))
}
