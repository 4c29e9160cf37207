import CSpikeKernels

/// What a forward pass records (SPEC section 5).
public struct RecordingOptions: Sendable {
    /// Record every LIF layer's spikes.
    public var spikes: Bool
    /// Membrane traces wanted: layer name -> flat neuron indices into the per-step tensor (`[B, ...]` or `[P, ...]`).
    public var membrane: [String: [Int]]

    public init(spikes: Bool = true, membrane: [String: [Int]] = [:]) {
        self.spikes = spikes
        self.membrane = membrane
    }

    /// Record nothing (fastest forward).
    public static let none = RecordingOptions(spikes: false)
}

/// Binary spikes packed 64 per word, bit `i % 64` of word `i / 64` holding element `i` (issue 15: no byte per
/// neuron-step). Reads as a collection of `UInt8` 0/1 values in the flat order it was built from; bits past `count`
/// are always zero, so two equal spike trains compare equal.
public struct SpikeBits: RandomAccessCollection, Equatable, Sendable {
    public typealias Indices = Range<Int>
    /// The packed words, `(count + 63) / 64` of them.
    public private(set) var words: [UInt64]
    /// Elements (neuron-steps) stored.
    public let count: Int

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(i: Int) -> UInt8 {
        precondition(i >= 0 && i < count, "SpikeBits index \(i) out of range 0..<\(count)")
        return UInt8(truncatingIfNeeded: (words[i &>> 6] &>> UInt64(i & 63)) & 1)
    }

    /// Packs `values`, any nonzero value as a spike.
    public init<S: Sequence>(_ values: S) where S.Element: BinaryInteger {
        var words: [UInt64] = [], word: UInt64 = 0, n = 0
        for v in values {
            if v != 0 { word |= UInt64(1) &<< UInt64(n & 63) }
            n += 1
            if n & 63 == 0 { words.append(word); word = 0 }
        }
        if n & 63 != 0 { words.append(word) }
        self.words = words
        self.count = n
    }

    /// Packs spikes stored as floats (`0` silent, anything else a spike), as the engine's neuron layers return them.
    public init(floats x: [Float]) {
        let n = x.count
        var words = [UInt64](repeating: 0, count: (n + 63) / 64)
        x.withUnsafeBufferPointer { p in
            words.withUnsafeMutableBufferPointer { w in
                if let src = p.baseAddress, let dst = w.baseAddress { sk_pack_bits(src, Int64(n), dst) }
            }
        }
        self.words = words
        self.count = n
    }

    /// `count` silent elements.
    public init(zeros count: Int) {
        words = [UInt64](repeating: 0, count: (count + 63) / 64)
        self.count = count
    }

    /// Copies `source[range]` to elements starting at `offset` (spike by spike over the words of `range` only; the
    /// target bits are assumed 0).
    mutating func insert(_ source: SpikeBits, _ range: Range<Int>, at offset: Int) {
        precondition(range.lowerBound >= 0 && range.upperBound <= source.count && offset + range.count <= count)
        let shift = offset - range.lowerBound
        words.withUnsafeMutableBufferPointer { w in
            source.forEachOne(in: range) { i in
                let j = i + shift
                w[j &>> 6] |= UInt64(1) &<< UInt64(j & 63)
            }
        }
    }

    /// Spikes among elements `range` (a popcount over the words; `range` is clamped to `0..<count`).
    public func ones(in range: Range<Int>) -> Int {
        let lo = Swift.max(0, range.lowerBound), hi = Swift.min(count, range.upperBound)
        guard lo < hi else { return 0 }
        let (first, last) = (lo >> 6, (hi - 1) >> 6)
        let headMask = ~UInt64(0) &<< UInt64(lo & 63)
        let tailMask = (hi & 63) == 0 ? ~UInt64(0) : (UInt64(1) &<< UInt64(hi & 63)) &- 1
        if first == last { return (words[first] & headMask & tailMask).nonzeroBitCount }
        var total = (words[first] & headMask).nonzeroBitCount + (words[last] & tailMask).nonzeroBitCount
        for w in (first + 1)..<last { total += words[w].nonzeroBitCount }
        return total
    }

    /// All spikes stored.
    public var ones: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// Calls `body` with the index of every spike in `range` (clamped to `0..<count`), ascending, word by word: the cost
    /// is one step per 64 elements plus one per spike.
    @inline(__always)
    public func forEachOne(in range: Range<Int>, _ body: (Int) throws -> Void) rethrows {
        let lo = Swift.max(0, range.lowerBound), hi = Swift.min(count, range.upperBound)
        guard lo < hi else { return }
        try words.withUnsafeBufferPointer { w in
            for wi in (lo >> 6)...((hi - 1) >> 6) {
                var word = w[wi]
                if wi == lo >> 6 { word &= ~UInt64(0) &<< UInt64(lo & 63) }
                if wi == (hi - 1) >> 6 && hi & 63 != 0 { word &= (UInt64(1) &<< UInt64(hi & 63)) &- 1 }
                while word != 0 {
                    try body(wi &* 64 &+ word.trailingZeroBitCount)
                    word &= word &- 1
                }
            }
        }
    }
}

extension Slice where Base == SpikeBits {
    /// Calls `body` with the offset (from `startIndex`) of every spike in this slice, ascending.
    @inline(__always)
    public func forEachOne(_ body: (Int) throws -> Void) rethrows {
        let start = startIndex
        try base.forEachOne(in: startIndex..<endIndex) { try body($0 - start) }
    }
}

/// One LIF layer's recorded activity for one forward pass.
public struct LayerRecording: Sendable {
    /// Module path, e.g. `vision.block.0.attn.q_lif` (docs/CHECKPOINT.md).
    public let name: String
    /// Full spike tensor shape `[T, B, ...]` in PyTorch order (e.g. `[T, B, C, H, W]`, `[T, B, D, N]`, `[T, P, L*E]`).
    public let shape: [Int]
    /// Firing threshold of this layer.
    public let threshold: Float
    /// Spikes, 0 or 1, flat in `shape` order, bit-packed (empty when spikes were not requested).
    public let spikes: SpikeBits
    /// Membrane charge `h[t]`, `t = 0..<T`, for each requested neuron (flat index into the per-step tensor).
    public let membrane: [Int: [Float]]

    public init(name: String, shape: [Int], threshold: Float, spikes: SpikeBits, membrane: [Int: [Float]]) {
        self.name = name
        self.shape = shape
        self.threshold = threshold
        self.spikes = spikes
        self.membrane = membrane
    }

    /// A recording from 0/1 bytes (nonzero is a spike), flat in `shape` order.
    public init(name: String, shape: [Int], threshold: Float, spikes: [UInt8], membrane: [Int: [Float]]) {
        self.init(name: name, shape: shape, threshold: threshold, spikes: SpikeBits(spikes), membrane: membrane)
    }

    /// `T`.
    public var steps: Int { shape[0] }
    /// Batch items recorded: `B` images (vision) or `P` prompts (text), `shape[1]`.
    public var batch: Int { shape.count > 1 ? shape[1] : 1 }
    /// Neurons per time step, all batch items together.
    public var neuronsPerStep: Int { shape.dropFirst().reduce(1, *) }
    /// Neurons per time step and batch item.
    public var neuronsPerItem: Int { shape.dropFirst(2).reduce(1, *) }

    /// Spike count at step `t` for batch item `b`.
    public func spikeCount(step t: Int, item b: Int) -> Int {
        let base = t * neuronsPerStep + b * neuronsPerItem
        return spikes.ones(in: base..<(base + neuronsPerItem))
    }

    /// Spikes at step `t` for batch item `b`, flat over the item's neurons.
    public func spikes(step t: Int, item b: Int) -> Slice<SpikeBits> {
        let base = t * neuronsPerStep + b * neuronsPerItem
        return spikes[base..<(base + neuronsPerItem)]
    }

    /// Mean firing rate (spikes per neuron per step, in [0, 1]) of batch item `b`, or of all items when `nil`.
    public func firingRate(item b: Int? = nil) -> Double {
        if let b {
            let total = (0..<steps).reduce(0) { $0 + spikeCount(step: $1, item: b) }
            return Double(total) / Double(steps * neuronsPerItem)
        }
        return Double(spikes.ones) / Double(max(1, spikes.count))
    }
}

/// All LIF layers of one forward pass, in forward order.
public struct Recording: Sendable {
    public private(set) var layers: [LayerRecording] = []

    public init() {}

    mutating func append(_ layer: LayerRecording) { layers.append(layer) }

    /// The layer named `name`, if recorded.
    public subscript(name: String) -> LayerRecording? { layers.first { $0.name == name } }
}
