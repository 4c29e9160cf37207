import Foundation

/// Zero-shot scores of one image against `K` candidate classes (SPEC 1.5).
public struct ZeroShotScores: Sendable, Equatable {
    /// Cosine between the normalised image embedding and each class embedding, `[K]`. With template ensembling the
    /// class embedding is a mean of unit vectors (not re-normalised, as in the official code), so this is the
    /// mean cosine over templates.
    public let cosines: [Float]
    /// `logit_scale * cosines`, `[K]`.
    public let logits: [Float]
    /// Softmax of the logits over the `K` candidates, `[K]`.
    public let probabilities: [Float]
    /// Index of the highest logit (first on ties).
    public var top1: Int { logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) } ?? 0 }

    /// Indices of the `k` highest logits, best first.
    public func topK(_ k: Int) -> [Int] {
        Array(logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }.prefix(k))
    }
}

/// Zero-shot classifier with prompt-template ensembling (SPEC 1.5; CLIP's zero-shot protocol).
public struct ZeroShotClassifier: Sendable {
    /// Class embeddings `[K, target_dim]`: mean over templates of the L2-normalised text embeddings.
    public let classEmbeddings: [[Float]]
    /// Multiplier applied to the cosines before the softmax.
    public let logitScale: Float

    /// - Parameters:
    ///   - textEmbeddings: `[K * M]` rows of `[target_dim]`, prompt `p = c * M + m` (class `c`, template `m`).
    ///   - templatesPerClass: `M` (1 turns ensembling off).
    public init(textEmbeddings: [[Float]], templatesPerClass m: Int, logitScale: Float) {
        precondition(m > 0 && textEmbeddings.count % m == 0, "prompt count must be a multiple of the template count")
        let k = textEmbeddings.count / m
        let dim = textEmbeddings.first?.count ?? 0
        var classes: [[Float]] = []
        for c in 0..<k {
            var mean = [Double](repeating: 0, count: dim)
            for t in 0..<m {
                let unit = l2Normalized(textEmbeddings[c * m + t])
                for j in 0..<dim { mean[j] += Double(unit[j]) }
            }
            classes.append(mean.map { Float($0 / Double(m)) })
        }
        self.classEmbeddings = classes
        self.logitScale = logitScale
    }

    /// Scores one image embedding `[target_dim]` (normalised here).
    public func score(imageEmbedding: [Float]) -> ZeroShotScores {
        let image = l2Normalized(imageEmbedding)
        let cosines = classEmbeddings.map { cls in Float(zip(image, cls).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }) }
        let logits = cosines.map { $0 * logitScale }
        return ZeroShotScores(cosines: cosines, logits: logits, probabilities: softmax(logits))
    }
}

/// Numerically stable softmax, computed in Double.
public func softmax(_ x: [Float]) -> [Float] {
    guard let m = x.max() else { return [] }
    let e = x.map { exp(Double($0 - m)) }
    let s = e.reduce(0, +)
    return e.map { Float($0 / s) }
}
