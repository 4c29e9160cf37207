import Foundation
import SpikeCLIP

/// One row of the lesion view (issue 17): the spiking model with one layer silenced alone.
public struct LesionRow: Sendable, Equatable {
    public var layer: String
    /// Probability of the unmodified model's top class with the layer silenced.
    public var probability: Float
    /// Unmodified probability minus `probability` (positive: the layer supports the class).
    public var drop: Float
    /// The top class with the layer silenced.
    public var top1: Int
}

/// The lesion view's state: rows as they arrive, progress, for which input.
public struct LesionState: Sendable, Equatable {
    public var rows: [LesionRow] = []
    public var done = 0
    public var total = 0
    public var topClass = 0
    public var baseProbability: Float = 0
    /// ``ExplorerState/generation`` of the input it was computed for.
    public var generation = 0
    public var error: String?
    public var finished: Bool { done >= total || error != nil }
}

/// Computes the lesion view in the background, one silenced layer after another, through the same
/// ``AnalysisProvider`` as every analysis; the loop polls ``snapshot()`` for progress. Starting again cancels the
/// run in progress.
final class LesionRunner: @unchecked Sendable {
    private let condition = NSCondition()
    private var state: LesionState?
    private var token = 0
    private var running = 0

    func start(provider: AnalysisProvider, request: AnalysisRequest, layers: [String], generation: Int) {
        condition.lock()
        token += 1
        let mine = token
        running += 1
        state = LesionState(total: layers.count, generation: generation)
        condition.unlock()
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            defer { condition.lock(); running -= 1; condition.broadcast(); condition.unlock() }
            func update(_ body: (inout LesionState) -> Void) -> Bool {
                condition.lock()
                defer { condition.unlock() }
                guard token == mine, state != nil else { return false }
                body(&state!)
                return true
            }
            var plain = request
            plain.interventions = .none
            plain.membrane = [:]
            plain.wantBaseline = false
            do {
                let base = try provider.analyze(plain).snn
                guard update({ $0.topClass = base.top1; $0.baseProbability = base.probabilities[base.top1] }) else { return }
                for layer in layers {
                    var r = plain
                    r.interventions = InterventionSet([Intervention(layer: layer, action: .silence)])
                    let s = try provider.analyze(r).snn
                    let p = s.probabilities[base.top1]
                    let row = LesionRow(layer: layer, probability: p, drop: base.probabilities[base.top1] - p, top1: s.top1)
                    guard update({ $0.rows.append(row); $0.done += 1 }) else { return }
                }
            } catch {
                _ = update { $0.error = "\(error)" }
            }
        }
    }

    func snapshot() -> LesionState? {
        condition.lock()
        defer { condition.unlock() }
        return state
    }

    /// Blocks until no run is in progress (for `settle`).
    func wait() {
        condition.lock()
        while running > 0 { condition.wait() }
        condition.unlock()
    }
}
