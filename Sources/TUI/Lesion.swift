import Foundation
import SpikeCLIP

/// What the probe view runs over the image on screen (issue 17): every layer silenced alone, or a sweep of the time
/// steps or the threshold scale.
public enum ProbeKind: String, Sendable, Equatable {
    case lesion, steps = "T", threshold
}

/// One row of the lesion view (issue 17): the spiking model with one layer silenced alone (or one swept value).
public struct LesionRow: Sendable, Equatable {
    /// The silenced layer, or the swept value.
    public var layer: String
    /// Probability of the unmodified model's top class with the layer silenced.
    public var probability: Float
    /// Unmodified probability minus `probability` (positive: the layer supports the class).
    public var drop: Float
    /// The top class with the layer silenced.
    public var top1: Int
    /// The spiking image encoder's energy for the image (pJ, paper convention).
    public var energyPJ: Double = 0
}

/// The lesion view's state: rows as they arrive, progress, for which input.
public struct LesionState: Sendable, Equatable {
    public var kind: ProbeKind = .lesion
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

    /// Each of `items` (a label and the interventions it stands for) applied alone.
    func start(provider: AnalysisProvider, request: AnalysisRequest, kind: ProbeKind, items: [(label: String, set: InterventionSet)], generation: Int) {
        condition.lock()
        token += 1
        let mine = token
        running += 1
        state = LesionState(kind: kind, total: items.count, generation: generation)
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
                for item in items {
                    var r = plain
                    r.interventions = item.set
                    let a = try provider.analyze(r)
                    let s = a.snn
                    let p = s.probabilities[base.top1]
                    let row = LesionRow(layer: item.label, probability: p, drop: base.probabilities[base.top1] - p, top1: s.top1,
                                        energyPJ: a.visionEnergy.totalPJ(.paper))
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
