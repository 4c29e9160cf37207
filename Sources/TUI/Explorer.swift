import Foundation
import SpikeCLIP
import Visualize

/// One unit of work for the ``AnalysisWorker``: decode the image `image` names, then analyze it.
public struct AnalysisJob: Sendable {
    public var generation: Int
    public var image: ImageSpec
    /// The request for the decoded image.
    public var request: @Sendable (ImageInput) -> AnalysisRequest
}

/// What the worker hands back: the analysis (or why there is none) and the image it decoded.
public struct AnalysisOutcome: Sendable {
    public var generation: Int
    public var result: Result<Analysis, Error>
    /// The decoded image and, for Fashion-MNIST, the record index used; nil when decoding failed.
    public var image: (input: ImageInput, fashionIndex: Int?)?
}

/// Decodes images and runs analyses on a background thread, so typing never waits for files or inference. Only the
/// newest job is kept; results of older generations are dropped by the caller (STYLE.md 10). The last decoded image
/// is reused while only the prompts change.
public final class AnalysisWorker: @unchecked Sendable {
    private let provider: AnalysisProvider
    private let catalog: ImageCatalog
    private let condition = NSCondition()
    private var pending: AnalysisJob?
    private var finished: AnalysisOutcome?
    private var stopped = false
    private var thread: Thread?
    /// Worker thread only.
    private var lastImage: (spec: ImageSpec, input: ImageInput, fashionIndex: Int?)?

    public init(provider: AnalysisProvider, catalog: ImageCatalog) {
        self.provider = provider
        self.catalog = catalog
        let t = Thread { [weak self] in self?.loop() }
        t.name = "spikeclip-analysis"
        t.stackSize = 16 << 20
        thread = t
        t.start()
    }

    /// Replaces any waiting job with `job`.
    public func submit(_ job: AnalysisJob) {
        condition.lock()
        pending = job
        condition.signal()
        condition.unlock()
    }

    /// The latest finished outcome, if any (taken once).
    public func take() -> AnalysisOutcome? {
        condition.lock()
        defer { finished = nil; condition.unlock() }
        return finished
    }

    /// Blocks until the outcome for `generation` (or newer) is ready; for `snapshot` and tests.
    public func wait(for generation: Int) -> AnalysisOutcome {
        while true {
            condition.lock()
            if let f = finished, f.generation >= generation {
                finished = nil
                condition.unlock()
                return f
            }
            _ = condition.wait(until: Date().addingTimeInterval(0.01))
            condition.unlock()
        }
    }

    public func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while pending == nil && !stopped { condition.wait() }
            if stopped { condition.unlock(); return }
            let job = pending!
            pending = nil
            condition.unlock()
            let outcome: AnalysisOutcome
            do {
                let image: (input: ImageInput, fashionIndex: Int?)
                if let last = lastImage, last.spec == job.image {
                    image = (last.input, last.fashionIndex)
                } else {
                    image = try catalog.load(job.image)
                    lastImage = (job.image, image.input, image.fashionIndex)
                }
                outcome = AnalysisOutcome(generation: job.generation, result: Result { try provider.analyze(job.request(image.input)) },
                                          image: image)
            } catch {
                outcome = AnalysisOutcome(generation: job.generation, result: .failure(error), image: nil)
            }
            condition.lock()
            finished = outcome
            condition.broadcast()
            condition.unlock()
        }
    }
}

/// The explorer application: state, worker, image loading and the event loop over a ``TerminalDriver``.
public final class Explorer {
    public internal(set) var state: ExplorerState
    public private(set) var analysis: Analysis?
    public private(set) var image: ImageInput?
    public private(set) var error: String?
    let provider: AnalysisProvider
    let catalog: ImageCatalog
    let worker: AnalysisWorker
    let checkpointName: String
    private var requested = 0
    /// The image last asked for, and the one on screen (the worker decodes; `image` is the decoded `shownImage`).
    private var imageSpec: ImageSpec?
    private var shownImage: ImageSpec?
    /// Generation of the last outcome applied.
    private var applied = 0
    private let lister = DirectoryLister()
    private let lesions = LesionRunner()
    /// Loads a second checkpoint for ``ComparingProvider`` (set by ``ExplorerSession``; nil: the key says so).
    public var comparisonLoader: (@Sendable (String) throws -> ComparingProvider.Side)?
    private let comparisonLoads = ComparisonLoads()
    /// The provider when it can show a second checkpoint (``ExplorerSession`` always builds one).
    private let comparison: ComparingProvider?
    private var lastTick = DispatchTime.now().uptimeNanoseconds
    /// Show computation times (off for deterministic snapshots).
    public var showTimings = true
    /// Time between animation steps while playing (ms).
    public var playIntervalMS = 600

    public init(provider: AnalysisProvider, catalog: ImageCatalog, state: ExplorerState, checkpointName: String) {
        self.provider = provider
        self.comparison = provider as? ComparingProvider
        self.catalog = catalog
        self.state = state
        self.checkpointName = checkpointName
        self.worker = AnalysisWorker(provider: provider, catalog: catalog)
        loadImage()
    }

    deinit { worker.stop() }

    var layerCount: Int { provider.layerNames.count }
    var steps: Int { analysis?.visionRecording.layers.first?.steps ?? 1 }
    /// The Spikes panel's layer: name and per-item shape (`[C, ...]`, from the last analysis).
    var selectedLayer: (name: String, shape: [Int]) {
        guard state.layerIndex < provider.layerNames.count else { return ("", []) }
        let name = provider.layerNames[state.layerIndex]
        let shape = (analysis?.visionRecording[name] ?? analysis?.textRecording[name])?.shape.dropFirst(2)
        return (name, shape.map(Array.init) ?? [])
    }

    var selectedNeurons: Int {
        guard let a = analysis, state.layerIndex < provider.layerNames.count else { return 1 }
        let name = provider.layerNames[state.layerIndex]
        return (a.visionRecording[name] ?? a.textRecording[name])?.neuronsPerItem ?? 1
    }

    /// The image the state points at, or nil (with the reason in the status line) when there is none.
    func currentImage() -> ImageSpec? {
        switch state.source {
        case .demo:
            guard !catalog.demo.isEmpty else {
                error = "no demo images (assets/images/labels.json)"
                return nil
            }
            state.demoIndex = (state.demoIndex % catalog.demo.count + catalog.demo.count) % catalog.demo.count
            let entry = catalog.demo[state.demoIndex]
            return .file(path: entry.path, label: entry.label)
        case .fashionMNIST:
            if let typed = state.typedIndex {
                state.typedIndex = nil
                return .fashionMNIST(index: typed, wrap: false)
            }
            return .fashionMNIST(index: state.fashionIndex, wrap: true)
        case .directory:
            return state.chosenFile.map { .file(path: $0, label: nil) }
        }
    }

    /// Schedules decoding the image the state points at and its analysis (the worker reads the file).
    func loadImage() {
        guard let spec = currentImage() else { return }
        imageSpec = spec
        recompute()
    }

    func job() -> AnalysisJob? {
        guard let imageSpec else { return nil }
        var membrane: [String: [Int]] = [:]
        if state.spikeView == .membrane, state.layerIndex < provider.layerNames.count {
            let name = provider.layerNames[state.layerIndex]
            if let text = analysis?.textRecording[name] {
                // Text layers: the neuron of the prompt shown (n/N), flat over [P, n].
                let prompt = min(state.textPrompt, max(0, text.batch - 1))
                membrane[name] = [prompt * text.neuronsPerItem + min(state.traceNeuron, text.neuronsPerItem - 1)]
            } else {
                membrane[name] = [state.traceNeuron]
            }
        }
        let (generation, classes, templates, ensemble) = (state.generation, state.classNames, state.templates, state.ensemble)
        let traces = membrane, interventions = state.activeInterventions
        return AnalysisJob(generation: generation, image: imageSpec) { image in
            AnalysisRequest(generation: generation, classNames: classes, templates: templates, ensemble: ensemble, image: image,
                            membrane: traces, interventions: interventions)
        }
    }

    func recompute() {
        state.generation += 1
        if let j = job() { requested = j.generation; worker.submit(j) }
    }

    /// Applies finished work (an analysis, a directory listing); returns true when the frame changed.
    func poll() -> Bool {
        var changed = applyListing()
        if let l = lesions.snapshot(), l != state.lesion { state.lesion = l; changed = true }
        if let loaded = comparisonLoads.take() { applyComparison(loaded); changed = true }
        if let done = worker.take(), done.generation == requested { apply(done); applied = done.generation; changed = true }  // else stale
        return changed
    }

    func apply(_ done: AnalysisOutcome) {
        if let (input, index) = done.image {
            image = input
            if let index { state.fashionIndex = index }
            // Later recomputes (prompt edits) reuse this image: the wrapped index, never the typed one again.
            shownImage = index.map { .fashionMNIST(index: $0, wrap: true) } ?? imageSpec
            imageSpec = shownImage
        } else {
            imageSpec = shownImage  // decoding failed or a typed index was refused: keep the image shown
        }
        switch done.result {
        case let .success(a):
            analysis = a
            error = nil
            state.step = min(state.step, max(0, steps - 1))
        case let .failure(e as ExplorerMessage) where done.image == nil:
            state.message = e.description  // a refused index or a missing data set: shown until the next key
        case let .failure(e):
            error = "\(e)"
        }
    }

    /// The size of the last frame drawn; below ``ExplorerView/minimumSize`` only quitting keys act (the screen
    /// offers nothing else, and the panels the other keys would change are not visible).
    private var lastFrameSize = (width: Int.max, height: Int.max)

    /// The frame for the current state.
    public func frame(width: Int, height: Int) -> CellGrid {
        lastFrameSize = (width, height)
        let ctx = FrameContext(
            analysis: analysis, computing: analysis?.generation != requested, image: image, graphs: provider.graphs,
            contextLength: provider.contextLength, tokens: { [provider] in provider.tokens(of: $0) },
            checkpointName: checkpointName, error: error)
        var context = ctx
        context.showTimings = showTimings
        return ExplorerView.render(state, context, width: width, height: height)
    }

    /// Handles one key; returns false to quit.
    public func handle(_ key: Key) -> Bool {
        if lastFrameSize.width < ExplorerView.minimumSize.width || lastFrameSize.height < ExplorerView.minimumSize.height {
            return key != .char("q")
        }
        state.message = nil
        let layer = selectedLayer
        switch state.handle(key, layers: layerCount, steps: steps, neurons: selectedNeurons, prompts: analysis?.prompts.count ?? 1,
                            layerName: layer.name, layerShape: layer.shape, heads: layer.name.hasPrefix("vision.block.") ? provider.attentionHeads : nil) {
        case .quit: return false
        case .recompute: recompute()
        case .loadImage: loadImage()
        case .listDirectory: listDirectory()
        case .startLesion: startLesion()
        case let .startSweep(kind): startSweep(kind)
        case let .loadComparison(path): loadComparison(path)
        case .closeComparison:
            guard let c = comparison, let side = c.second else { state.message = "no second checkpoint to close"; break }
            c.second = nil
            state.message = "closed " + terminalSafe(side.name)
            recompute()
        case .none, .redraw: break
        }
        return true
    }

    /// Shows `text` in the status line until the next key.
    public func note(_ text: String) { state.message = text }

    /// Focuses `panel`.
    public func focus(_ panel: PanelID) { state.focus = panel }

    /// Loads an image file (as the directory source would).
    /// - Throws: ``ImageError``.
    public func open(imagePath: String) throws {
        _ = try catalog.load(path: imagePath, label: nil)  // a bad file is reported to the caller at once
        state.source = .directory
        state.chosenFile = imagePath
        loadImage()
    }

    /// Waits for the pending analysis and directory listing (for snapshots and tests).
    public func settle() {
        // Nothing pending when the outcome last applied is the one last requested (waiting would never end).
        if requested > 0, applied != requested { apply(worker.wait(for: requested)); applied = requested }
        lister.wait()
        _ = applyListing()
        lesions.wait()
        if let l = lesions.snapshot() { state.lesion = l }
        comparisonLoads.wait()
        if let loaded = comparisonLoads.take() {
            applyComparison(loaded)
            if requested > 0, applied != requested { apply(worker.wait(for: requested)); applied = requested }
        }
    }

    /// Loads the checkpoint at `path` in the background; the next poll shows it beside the first, or says why not.
    func loadComparison(_ path: String) {
        guard let loader = comparisonLoader, comparison != nil else {
            state.message = "this explorer cannot load a second checkpoint"
            return
        }
        state.message = "loading \(terminalSafe(ExplorerSession.shortName(path))) to compare..."
        comparisonLoads.start { try loader(path) }
    }

    func applyComparison(_ loaded: Result<ComparingProvider.Side, Error>) {
        switch loaded {
        case let .success(side):
            comparison?.second = side
            state.message = "comparing with \(terminalSafe(side.name)): ANN vs SNN (b: its columns), Energy, Spikes"
            recompute()
        case let .failure(e):
            state.message = "cannot compare: " + terminalSafe("\(e)")
        }
    }

    /// Starts a sweep of the time steps (1...T) or of every threshold (x0.5 ... x2) for the image and prompts on screen.
    func startSweep(_ kind: ProbeKind) {
        guard let image, let request = job()?.request(image) else { state.message = "no image yet"; return }
        let items: [(label: String, set: InterventionSet)] = kind == .steps
            ? (1...max(1, steps)).map { (String($0), InterventionSet(steps: $0)) }
            : [0.5, 0.75, 1, 1.25, 1.5, 2].map { (String(format: "%g", $0), InterventionSet([Intervention(layer: "*", action: .threshold, scale: $0)])) }
        lesions.start(provider: provider, request: request, kind: kind, items: items, generation: state.generation)
        state.lesion = lesions.snapshot()
    }

    /// Starts the lesion view for the image and prompts on screen: every spiking layer silenced alone, then every
    /// attention head alone (its channels of the block's `attn_lif`, the spikes of `attn v` that feed the projection).
    func startLesion() {
        guard let image, let request = job()?.request(image) else { state.message = "no image yet"; return }
        var items = provider.layerNames.map { (label: $0, set: InterventionSet([Intervention(layer: $0, action: .silence)])) }
        for layer in provider.layerNames where layer.hasPrefix("vision.block.") && layer.hasSuffix(".attn.attn_lif") {
            for h in 0..<provider.attentionHeads {
                items.append(("\(layer) head \(h)", InterventionSet([Intervention(layer: layer, action: .silence, target: .head, index: h)])))
            }
        }
        lesions.start(provider: provider, request: request, kind: .lesion, items: items, generation: state.generation)
        state.lesion = lesions.snapshot()
    }

    /// Goes into folder `name` of the browsed directory (`..` for up, `.` to list it again) and lists it, as Enter
    /// and Backspace do; the listing arrives with the next ``settle()`` or poll.
    public func browse(_ name: String) {
        state.enter(name)
        listDirectory()
    }

    /// Lists `state.directory` on a background queue (the Image panel says "listing..." until it arrives).
    func listDirectory() {
        state.directoryEntries = []
        state.directorySelection = 0
        lister.list(state.directory)
    }

    /// Shows a finished listing if it is of the folder still browsed; true when it was applied.
    func applyListing() -> Bool {
        guard let done = lister.take(for: state.directory) else { return false }
        state.directoryEntries = done.entries
        state.directorySelection = min(state.directorySelection, max(0, done.entries.count - 1))
        return true
    }

    /// The event loop: returns on `q`, a signal (SIGINT, SIGTERM, SIGHUP) or when `shouldStop` says so.
    public func run(on terminal: TerminalDriver, shouldStop: () -> Bool = { false }) {
        var dirty = true
        while !shouldStop() {
            if terminal.takeSignal() != nil { return }
            if poll() { dirty = true }
            let now = DispatchTime.now().uptimeNanoseconds
            if state.playing && now - lastTick > UInt64(playIntervalMS) * 1_000_000 {
                state.step = (state.step + 1) % max(1, steps)
                lastTick = now
                dirty = true
            }
            if dirty {
                let size = terminal.size
                terminal.draw(frame(width: size.width, height: size.height))
                dirty = false
            }
            guard let key = terminal.readKey(timeoutMS: 40) else { continue }
            if !handle(key) { return }
            dirty = true
        }
    }
}

/// Second-checkpoint loads (issue 17): one at a time in the background, the newest result kept for the input thread.
final class ComparisonLoads: @unchecked Sendable {
    private let condition = NSCondition()
    private var finished: Result<ComparingProvider.Side, Error>?
    private var running = 0

    func start(_ load: @escaping @Sendable () throws -> ComparingProvider.Side) {
        condition.lock()
        running += 1
        condition.unlock()
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            let result = Result { try load() }
            condition.lock()
            finished = result
            running -= 1
            condition.broadcast()
            condition.unlock()
        }
    }

    func take() -> Result<ComparingProvider.Side, Error>? {
        condition.lock()
        defer { finished = nil; condition.unlock() }
        return finished
    }

    /// Blocks until no load is running (for `settle`).
    func wait() {
        condition.lock()
        while running > 0 { condition.wait() }
        condition.unlock()
    }
}

/// A plain message as an error.
struct ExplorerMessage: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Lists folders on a background queue; finished listings wait for the input thread to take the one it needs
/// (listings may finish in any order: Enter, Enter, Backspace start three).
final class DirectoryLister: @unchecked Sendable {
    private let condition = NSCondition()
    private var finished: [(directory: String, entries: [DirectoryEntry])] = []
    private var running = 0

    func list(_ directory: String) {
        condition.lock()
        running += 1
        condition.unlock()
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            let entries = ImageCatalog.list(directory: directory)
            condition.lock()
            finished.append((directory, entries))
            running -= 1
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The newest finished listing of `directory`, if any; older and other folders' listings are dropped.
    func take(for directory: String) -> (directory: String, entries: [DirectoryEntry])? {
        condition.lock()
        defer { condition.unlock() }
        guard let i = finished.lastIndex(where: { $0.directory == directory }) else { return nil }
        let done = finished[i]
        finished.removeAll()
        return done
    }

    /// Blocks until no listing is running (for `settle`).
    func wait() {
        condition.lock()
        while running > 0 { condition.wait() }
        condition.unlock()
    }
}

