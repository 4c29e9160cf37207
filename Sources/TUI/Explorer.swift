import Foundation
import SpikeCLIP
import Visualize

/// Runs analyses on a background thread so typing never waits for inference. Only the newest request is kept;
/// results of older generations are dropped by the caller (STYLE.md 10).
public final class AnalysisWorker: @unchecked Sendable {
    private let provider: AnalysisProvider
    private let condition = NSCondition()
    private var pending: AnalysisRequest?
    private var finished: (generation: Int, result: Result<Analysis, Error>)?
    private var stopped = false
    private var thread: Thread?

    public init(provider: AnalysisProvider) {
        self.provider = provider
        let t = Thread { [weak self] in self?.loop() }
        t.name = "spikeclip-analysis"
        t.stackSize = 16 << 20
        thread = t
        t.start()
    }

    /// Replaces any waiting request with `request`.
    public func submit(_ request: AnalysisRequest) {
        condition.lock()
        pending = request
        condition.signal()
        condition.unlock()
    }

    /// The latest finished result, if any (taken once).
    public func take() -> (generation: Int, result: Result<Analysis, Error>)? {
        condition.lock()
        defer { finished = nil; condition.unlock() }
        return finished
    }

    /// Blocks until a result for `generation` (or newer) is ready; for `snapshot` and tests.
    public func wait(for generation: Int) -> Result<Analysis, Error> {
        while true {
            condition.lock()
            if let f = finished, f.generation >= generation {
                finished = nil
                condition.unlock()
                return f.result
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
            let request = pending!
            pending = nil
            condition.unlock()
            let result = Result { try provider.analyze(request) }
            condition.lock()
            finished = (request.generation, result)
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
    private var lastTick = DispatchTime.now().uptimeNanoseconds
    /// Show computation times (off for deterministic snapshots).
    public var showTimings = true
    /// Time between animation steps while playing (ms).
    public var playIntervalMS = 600

    public init(provider: AnalysisProvider, catalog: ImageCatalog, state: ExplorerState, checkpointName: String) {
        self.provider = provider
        self.catalog = catalog
        self.state = state
        self.checkpointName = checkpointName
        self.worker = AnalysisWorker(provider: provider)
        loadImage()
    }

    deinit { worker.stop() }

    var layerCount: Int { provider.layerNames.count }
    var steps: Int { analysis?.visionRecording.layers.first?.steps ?? 1 }
    var selectedNeurons: Int {
        guard let a = analysis, state.layerIndex < provider.layerNames.count else { return 1 }
        let name = provider.layerNames[state.layerIndex]
        return (a.visionRecording[name] ?? a.textRecording[name])?.neuronsPerItem ?? 1
    }

    /// Loads the image the state points at (wrapping indices) and schedules an analysis.
    func loadImage() {
        do {
            switch state.source {
            case .demo:
                guard !catalog.demo.isEmpty else { throw ExplorerMessage("no demo images (assets/images/labels.json)") }
                state.demoIndex = (state.demoIndex % catalog.demo.count + catalog.demo.count) % catalog.demo.count
                let entry = catalog.demo[state.demoIndex]
                image = try catalog.load(path: entry.path, label: entry.label)
            case .fashionMNIST:
                let n = catalog.fashionCount()
                guard n > 0 else { throw ExplorerMessage("Fashion-MNIST test set not found (apt-get install dataset-fashion-mnist)") }
                if let typed = state.typedIndex {
                    state.typedIndex = nil
                    guard typed < n else {
                        state.message = "test index \(typed) is out of range 0-\(n - 1)"
                        return
                    }
                    state.fashionIndex = typed
                }
                state.fashionIndex = (state.fashionIndex % n + n) % n
                image = try catalog.loadFashion(index: state.fashionIndex)
            case .directory:
                guard let file = state.chosenFile else { return }
                image = try catalog.load(path: file, label: nil)
            }
            error = nil
            recompute()
        } catch {
            self.error = "\(error)"
        }
    }

    func request() -> AnalysisRequest? {
        guard let image else { return nil }
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
        return AnalysisRequest(generation: state.generation, classNames: state.classNames, templates: state.templates,
                               ensemble: state.ensemble, image: image, membrane: membrane)
    }

    func recompute() {
        state.generation += 1
        if let r = request() { requested = r.generation; worker.submit(r) }
    }

    /// Applies finished work; returns true when the frame changed.
    func poll() -> Bool {
        guard let done = worker.take() else { return false }
        guard done.generation == requested else { return false }  // stale
        switch done.result {
        case let .success(a):
            analysis = a
            error = nil
            state.step = min(state.step, max(0, steps - 1))
        case let .failure(e):
            error = "\(e)"
        }
        return true
    }

    /// The frame for the current state.
    public func frame(width: Int, height: Int) -> CellGrid {
        let ctx = FrameContext(
            analysis: analysis, computing: analysis?.generation != requested, image: image, layerNames: provider.layerNames,
            contextLength: provider.contextLength, tokens: { [provider] in provider.tokens(of: $0) },
            checkpointName: checkpointName, error: error)
        var context = ctx
        context.showTimings = showTimings
        return ExplorerView.render(state, context, width: width, height: height)
    }

    /// Handles one key; returns false to quit.
    public func handle(_ key: Key) -> Bool {
        state.message = nil
        switch state.handle(key, layers: layerCount, steps: steps, neurons: selectedNeurons, prompts: analysis?.prompts.count ?? 1) {
        case .quit: return false
        case .recompute: recompute()
        case .loadImage: loadImage()
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
        image = try catalog.load(path: imagePath, label: nil)
        state.source = .directory
        state.chosenFile = imagePath
        recompute()
    }

    /// Waits for the pending analysis (for snapshots and tests).
    public func settle() {
        // Nothing pending when the analysis shown is already the one last requested (waiting would never end).
        if requested > 0, analysis?.generation != requested {
            let r = worker.wait(for: requested)
            switch r {
            case let .success(a): analysis = a; error = nil
            case let .failure(e): error = "\(e)"
            }
        }
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

/// A plain message as an error.
struct ExplorerMessage: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
