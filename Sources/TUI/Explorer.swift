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
    /// Shortest time between two frames drawn (ms): 0 draws after every change; `--slow` sets it so that a slow link
    /// is sent at most a few frames a second (keys are still handled at once, frames coalesce).
    public var minFrameIntervalMS = 0
    /// Writes every input, the state it changed and the frame it drew (`--record`); the loop then waits for each
    /// analysis before it reads the next input.
    public var recorder: SessionRecorder?
    /// The checkpoint file and what a probe card says about it (set by ``ExplorerSession``; nil: `C` says so).
    public var cardCheckpoint: (path: String, provenance: JSONValue?, logitScale: Double)?
    /// The folder `C` writes cards into (`spikeclip-card-N`, the first N free).
    public var cardFolder = FileManager.default.currentDirectoryPath
    /// While replaying: the card number the record names (the replay writes into a temporary folder).
    var replayCardNumber: Int?

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
        // Presenter mode explains the LIF equation with the traced neuron's membrane potential.
        if state.spikeView == .membrane || state.presenting, state.layerIndex < provider.layerNames.count {
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

    /// What a frame shows besides the state.
    func frameContext() -> FrameContext {
        var ctx = FrameContext(
            analysis: analysis, computing: analysis?.generation != requested, image: image, graphs: provider.graphs,
            contextLength: provider.contextLength, tokens: { [provider] in provider.tokens(of: $0) },
            checkpointName: checkpointName, error: error)
        ctx.showTimings = showTimings
        return ctx
    }

    /// The frame for the current state.
    public func frame(width: Int, height: Int) -> CellGrid {
        lastFrameSize = (width, height)
        return ExplorerView.render(state, frameContext(), width: width, height: height)
    }

    /// What the panels' key handlers get besides the state.
    func panelInput() -> PanelInput {
        let layer = selectedLayer
        return PanelInput(layers: layerCount, steps: steps, neurons: selectedNeurons, prompts: analysis?.prompts.count ?? 1, layerName: layer.name,
                          layerShape: layer.shape, heads: layer.name.hasPrefix("vision.block.") ? provider.attentionHeads : nil,
                          layerNames: provider.layerNames)
    }

    /// Handles one key; returns false to quit.
    public func handle(_ key: Key) -> Bool {
        if lastFrameSize.width < ExplorerView.minimumSize.width || lastFrameSize.height < ExplorerView.minimumSize.height {
            return key != .char("q")
        }
        state.message = nil
        if case let .mouse(m) = key { return handleMouse(m) }
        let i = panelInput()
        return perform(state.handle(key, layers: i.layers, steps: i.steps, neurons: i.neurons, prompts: i.prompts, layerName: i.layerName,
                                    layerShape: i.layerShape, heads: i.heads, layerNames: i.layerNames))
    }

    /// A mouse event (with the mouse on): a press on a tab focuses its panel, on a panel focuses it and on a list row
    /// selects it (a press on the selected row acts as Enter); the wheel scrolls the panel under the pointer as
    /// up/down do. Nothing happens while text is typed or the help is open.
    func handleMouse(_ m: MouseEvent) -> Bool {
        guard state.mouse, state.editBuffer == nil, state.indexBuffer == nil, state.search?.typing != true, !state.showHelp else { return true }
        let (w, h) = lastFrameSize
        if m.y == 0 {
            if m.kind == .press, let id = ExplorerView.tab(at: m.x, state, width: w) { state.focus = id; state.search = nil }
            return true
        }
        let ctx = frameContext()
        guard let box = ExplorerView.layout(state, ctx, width: w, height: h).first(where: { m.x >= $0.x && m.x < $0.x + $0.w && m.y >= $0.y && m.y < $0.y + $0.h })
        else { return true }
        state.focus = box.id
        switch m.kind {
        case .wheelUp: return handle(.up)
        case .wheelDown: return handle(.down)
        case .press:
            let panel = ExplorerPanels.panel(box.id), input = panelInput()
            let row = m.y - box.y - 1
            guard let window = panel.listWindow(state, ctx, height: box.h - 2), let list = panel.list(state, input), row >= window.row else { return true }
            let index = window.first + row - window.row
            guard list.items.indices.contains(index) else { return true }
            if index == list.selected { return handle(.enter) }
            return perform(panel.select(index, &state, input))
        }
    }

    /// Carries out what a key asked for; false to quit.
    func perform(_ effect: Effect) -> Bool {
        switch effect {
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
        case .writeCard:
            let fm = FileManager.default
            let n = replayCardNumber ?? (1...10_000).first { !fm.fileExists(atPath: (cardFolder as NSString).appendingPathComponent("spikeclip-card-\($0)")) } ?? 10_001
            let dir = (cardFolder as NSString).appendingPathComponent("spikeclip-card-\(n)")
            do {
                try writeCard(to: dir, force: false)
                state.message = "wrote probe card spikeclip-card-\(n)/ (card.md, card.json, raster and spatial map as PNG and SVG)"
            } catch {
                state.message = "no card: " + terminalSafe("\(error)")
            }
        case .none, .redraw: break
        }
        return true
    }

    /// The file of the image on screen, nil for a Fashion-MNIST record.
    var shownImagePath: String? {
        if case let .file(path, _) = shownImage { return path }
        return nil
    }

    /// Writes a probe card of the analysis on screen to the folder `directory` (issue 18): the Spikes panel's layer
    /// is drawn (raster from its first shown neuron, spatial map), the energy convention shown is named.
    /// - Throws: ``CardError`` (no analysis yet, the folder exists without `force`, a write failure),
    ///   ``BundleError`` when a file cannot be hashed.
    public func writeCard(to directory: String, force: Bool) throws {
        guard let a = analysis, let image, !computing else { throw CardError(description: "no analysis on screen yet") }
        guard let model = cardCheckpoint else { throw CardError(description: "this explorer has no checkpoint file to describe") }
        let layer = selectedLayer.name
        let card = try ProbeCard.make(
            analysis: a, image: image, imagePath: shownImagePath,
            checkpoint: .init(file: (model.path as NSString).lastPathComponent, sha256: try sha256Hex(path: model.path), provenance: model.provenance),
            templates: state.templates, ensemble: state.ensemble, logitScale: model.logitScale, convention: state.convention, layer: layer)
        guard let rec = a.visionRecording[layer] ?? a.textRecording[layer] else { throw CardError(description: "layer \(layer) was not recorded") }
        let isText = a.textRecording[layer] != nil
        let item = isText ? min(state.textPrompt, max(0, rec.batch - 1)) : 0
        let source = isText ? "prompt '\(a.prompts.indices.contains(item) ? a.prompts[item].text : "")'" : image.title
        let raster = RasterFigure(try RasterData(recording: rec, layer: layer, source: source, firstNeuron: min(state.neuronOffset, rec.neuronsPerItem - 1),
                                                 maxNeurons: 256, item: item))
        // The spatial map: this layer's, or the first image-encoder layer with a spatial grid.
        let spatialLayer = SpikesPanel.spatialGrid(rec) != nil && !isText ? rec : a.visionRecording.layers.first { SpikesPanel.spatialGrid($0) != nil }
        guard let spatialLayer, let spatial = ProbeCard.spatialFigure(spatialLayer, title: terminalText("Spatial map: \(spatialLayer.name), spikes per position (all channels, all steps)")) else {
            throw CardError(description: "no layer with a spatial grid to map")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let json = try encoder.encode(card)
        try ProbeCard.writeDirectory([
            ("card.md", Array(card.markdown.utf8)), ("card.json", Array(json) + [10]),
            ("raster.png", try raster.figure.png()), ("raster.svg", Array(raster.svg().utf8)),
            ("spatial.png", try spatial.png()), ("spatial.svg", Array(spatial.svg().utf8)),
        ], to: directory, force: force)
    }

    /// True while the analysis on screen is older than the inputs.
    var computing: Bool { analysis?.generation != requested }

    /// One play step (the loop's timer; a record's `tick`).
    func advancePlay() { state.step = (state.step + 1) % max(1, steps) }

    /// One line for `--plain`: the focused panel, its headline and selected row, and the status line.
    public func plainSummary() -> String {
        let ctx = frameContext()
        let panel = ExplorerPanels.panel(state.focus)
        let lines = panel.render(state, ctx, width: 200, height: 40).lines.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var parts = ["[\(panel.title)]"]
        if let first = lines.first { parts.append(first) }
        if let selected = lines.first(where: { $0.hasPrefix("> ") }), selected != lines.first { parts.append(selected) }
        if let edit = state.editBuffer { parts.append("edit> " + edit) }
        let status = ExplorerView.statusParts(state, ctx, width: 200).joined(separator: " | ")
        if !status.isEmpty { parts.append(status) }
        return terminalSafe(parts.joined(separator: " | ").replacingOccurrences(of: "  +", with: " ", options: .regularExpression))
    }

    /// Changes the state directly (start-up settings: the config file's key remaps, mouse, presenter mode).
    public func update(_ body: (inout ExplorerState) -> Void) { body(&state) }

    /// The spiking layers, in forward order (image encoder, then text encoder).
    public var layerNames: [String] { provider.layerNames }

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
        var lastDraw: UInt64 = 0
        var mouseOn: Bool?
        if recorder != nil { showTimings = false }
        /// Draws and, when recording, logs the frame with the input that led to it.
        func draw(_ input: String?) {
            let size = terminal.size
            let grid = frame(width: size.width, height: size.height)
            terminal.draw(grid)
            if let input { recorder?.log(input, state: state, size: size, frame: grid) }
            lastDraw = DispatchTime.now().uptimeNanoseconds
            dirty = false
        }
        if recorder != nil { settle(); draw("start") }
        while !shouldStop() {
            if terminal.takeSignal() != nil { return }
            if mouseOn != state.mouse { terminal.setMouse(state.mouse); mouseOn = state.mouse }
            if poll() { dirty = true }
            let now = DispatchTime.now().uptimeNanoseconds
            if state.playing && now - lastTick > UInt64(max(playIntervalMS, minFrameIntervalMS)) * 1_000_000 {
                advancePlay()
                lastTick = now
                if recorder != nil { draw("tick") } else { dirty = true }
            }
            let wait = UInt64(minFrameIntervalMS) * 1_000_000
            if dirty && now - lastDraw >= wait { draw(nil) }
            let timeout = dirty ? max(1, Int((wait - min(wait, now - lastDraw)) / 1_000_000)) : 40
            guard let key = terminal.readKey(timeoutMS: timeout) else { continue }
            if !handle(key) {
                recorder?.log(key.name, state: state, size: terminal.size, frame: nil)
                return
            }
            if recorder != nil { settle(); draw(key.name) } else { dirty = true }
        }
    }

    /// Replays a record's inputs after its `start` (keys, mouse events, ticks; sizes from each event unless `size` is
    /// given) and returns the frame after each, settled as when it was recorded.
    public func replay(_ events: [SessionRecord.Event], size: (width: Int, height: Int)?) -> [CellGrid] {
        showTimings = false
        // Probe cards (`C`) go to a temporary folder, under the numbers the record shows: a replay writes nothing
        // where it runs.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spikeclip-replay-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let savedFolder = cardFolder
        cardFolder = folder
        defer { cardFolder = savedFolder; try? FileManager.default.removeItem(atPath: folder) }
        settle()
        var frames: [CellGrid] = []
        for e in events {
            let w = size?.width ?? e.size[0], h = size?.height ?? e.size[1]
            switch e.input {
            case "start": break
            case "tick": advancePlay()
            default:
                guard let key = Key(name: e.input) else { continue }  // checked by SessionRecord.read
                replayCardNumber = e.changed["message"]?.firstMatch(of: /wrote probe card spikeclip-card-([0-9]+)\//).flatMap { Int($0.1) }
                if !handle(key) { return frames }
                settle()
            }
            frames.append(frame(width: w, height: h))
        }
        return frames
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

