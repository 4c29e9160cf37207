import Foundation

/// Why a checkpoint could not be loaded as a SpikeCLIP model (SPEC section 3: loading is strict).
public enum CheckpointError: Error, Equatable, CustomStringConvertible, Sendable {
    /// `__metadata__.format` / `format_version` absent or not `spikeclip` / `1`.
    case badFormat(path: String, reason: String)
    /// The `config` metadata is missing, not JSON, or violates an invariant.
    case badConfig(path: String, reason: String)
    /// A parameter the model needs is absent.
    case missingKey(path: String, key: String, expectedShape: [Int])
    /// Keys the model does not use (the first few are listed).
    case unknownKeys(path: String, keys: [String])
    /// A parameter has the wrong shape.
    case wrongShape(path: String, key: String, expected: [Int], actual: [Int])
    /// A parameter is not F32, F16 or BF16.
    case wrongDType(path: String, key: String, dtype: String)
    /// A parameter holds NaN or infinite values.
    case nonFinite(path: String, key: String, count: Int)
    /// The file itself could not be read.
    case file(SafeTensorsError)
    /// The file is a PyTorch pickle (zip or legacy), such as the official code's `.pth.tar` files.
    case pytorchPickle(path: String)

    public var description: String {
        switch self {
        case let .badFormat(path, reason): return "\(quotedPreview(path, limit: 400)): not a SpikeCLIP checkpoint: \(quotedPreview(reason, limit: 120))"
        case let .badConfig(path, reason): return "\(quotedPreview(path, limit: 400)): invalid config: \(quotedPreview(reason, limit: 120))"
        case let .missingKey(path, key, shape): return "\(quotedPreview(path, limit: 400)): missing tensor '\(quotedPreview(key, limit: 120))' (expected shape \(shape))"
        case let .unknownKeys(path, keys):
            let shown = keys.prefix(5).map { "'\(quotedPreview($0, limit: 120))'" }.joined(separator: ", ")
            return "\(quotedPreview(path, limit: 400)): \(keys.count) unknown tensor\(keys.count == 1 ? "" : "s"): \(shown)\(keys.count > 5 ? ", ..." : "")"
        case let .wrongShape(path, key, expected, actual):
            return "\(quotedPreview(path, limit: 400)): tensor '\(quotedPreview(key, limit: 120))' has shape \(actual), expected \(expected)"
        case let .wrongDType(path, key, dtype):
            return "\(quotedPreview(path, limit: 400)): tensor '\(quotedPreview(key, limit: 120))' has dtype \(dtype), expected F32, F16 or BF16"
        case let .nonFinite(path, key, count):
            return "\(quotedPreview(path, limit: 400)): tensor '\(quotedPreview(key, limit: 120))' holds \(count) NaN or infinite value\(count == 1 ? "" : "s")"
        case let .file(error): return error.description
        case let .pytorchPickle(path):
            return "\(quotedPreview(path, limit: 400)): a PyTorch file (.pth / .pth.tar), not a SpikeCLIP checkpoint; convert it first with python -m spikeclip_training.convert_official (README: Open your own SpikeCLIP)"
        }
    }
}

/// Hands out a checkpoint's parameters by key, checking shape and dtype, and remembers which keys were taken so that
/// ``finish()`` can reject unknown keys. Used only while a model is being built.
struct ParameterStore {
    let file: SafeTensorsFile
    private(set) var used: Set<String> = []

    init(file: SafeTensorsFile) { self.file = file }

    /// The parameter `key` with shape `shape`, as F32.
    mutating func take(_ key: String, _ shape: [Int]) throws -> [Float] {
        guard let info = file.tensors[key] else {
            throw CheckpointError.missingKey(path: file.path, key: key, expectedShape: shape)
        }
        guard info.dtype.isFloatingPoint else {
            throw CheckpointError.wrongDType(path: file.path, key: key, dtype: info.dtype.rawValue)
        }
        guard info.shape == shape else {
            throw CheckpointError.wrongShape(path: file.path, key: key, expected: shape, actual: info.shape)
        }
        let values = try file.floats(key)
        let bad = values.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
        guard bad == 0 else { throw CheckpointError.nonFinite(path: file.path, key: key, count: bad) }
        used.insert(key)
        return values
    }

    /// Counts `key` as read (a buffer the caller checked and ignores).
    mutating func markUsed(_ key: String) { used.insert(key) }

    /// BatchNorm parameters under `prefix` (weight, bias, running_mean, running_var), each `[C]`.
    mutating func batchNorm(_ prefix: String, channels: Int, eps: Double) throws -> BatchNormParameters {
        BatchNormParameters(
            weight: try take(prefix + ".weight", [channels]),
            bias: try take(prefix + ".bias", [channels]),
            runningMean: try take(prefix + ".running_mean", [channels]),
            runningVar: try take(prefix + ".running_var", [channels]),
            eps: eps)
    }

    /// Throws ``CheckpointError/unknownKeys(path:keys:)`` if any key was not taken. `num_batches_tracked` buffers of
    /// official state dicts are ignored (docs/DECISIONS.md).
    func finish() throws {
        let unknown = file.tensors.keys.filter { !used.contains($0) && !$0.hasSuffix(".num_batches_tracked") }.sorted()
        guard unknown.isEmpty else { throw CheckpointError.unknownKeys(path: file.path, keys: unknown) }
    }
}

/// BatchNorm inference parameters, to be folded into the preceding convolution or linear layer.
struct BatchNormParameters {
    var weight: [Float], bias: [Float], runningMean: [Float], runningVar: [Float]
    var eps: Double

    /// Folds BN into `y = W x + b` with `W` `[O, fanIn]` row-major: `W' = s W`, `b' = s (b - mean) + beta`,
    /// `s = gamma / sqrt(var + eps)`. Computed in Double, stored in Float.
    func fold(weight w: [Float], bias b: [Float]?, outChannels: Int) -> (weight: [Float], bias: [Float]) {
        let fanIn = w.count / outChannels
        var folded = w
        var newBias = [Float](repeating: 0, count: outChannels)
        for o in 0..<outChannels {
            let s = Double(weight[o]) / (Double(runningVar[o]) + eps).squareRoot()
            for i in 0..<fanIn { folded[o * fanIn + i] = Float(Double(w[o * fanIn + i]) * s) }
            let b0 = Double(b?[o] ?? 0)
            newBias[o] = Float((b0 - Double(runningMean[o])) * s + Double(bias[o]))
        }
        return (folded, newBias)
    }
}

/// A loaded checkpoint: the config plus the spiking image and text encoders and, when the file has one, the ANN twin;
/// BatchNorm folded.
public struct SpikeCLIPModel: Sendable {
    public let config: ModelConfig
    public let vision: SpikingVisionEncoder
    public let text: SpikingTextEncoder
    /// nil when `ann_vision` is null (converted official files: their ANN side is CLIP, outside the checkpoint).
    public let annVision: ANNVisionEncoder?
    /// The file's `__metadata__` (format, version, config JSON).
    public let metadata: [String: String]

    /// Loads and verifies the checkpoint at `path` (docs/CHECKPOINT.md).
    /// - Throws: ``CheckpointError`` naming the file and the key (missing, unknown, wrong shape or dtype, NaN/Inf,
    ///   bad config) or wrapping a ``SafeTensorsError`` (truncated, header too large, bad JSON, offsets).
    public init(path: String) throws {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: path) } catch let e as SafeTensorsError {
            // torch.save writes a zip ("PK\3\4") or, in the legacy format, a pickle starting with PROTO (0x80).
            if let h = FileHandle(forReadingAtPath: path), let head = try? h.read(upToCount: 4), head.count == 4 {
                let b = [UInt8](head)
                if b == [0x50, 0x4B, 0x03, 0x04] || (b[0] == 0x80 && (2...5).contains(b[1])) { throw CheckpointError.pytorchPickle(path: path) }
            }
            throw CheckpointError.file(e)
        }
        guard file.metadata["format"] == "spikeclip" else {
            throw CheckpointError.badFormat(path: path, reason: "__metadata__.format is \(file.metadata["format"].map { "'\($0)'" } ?? "absent"), expected 'spikeclip'")
        }
        guard file.metadata["format_version"] == "1" else {
            throw CheckpointError.badFormat(path: path, reason: "format_version \(file.metadata["format_version"].map { "'\($0)'" } ?? "absent") is not supported (expected '1')")
        }
        guard let json = file.metadata["config"] else { throw CheckpointError.badConfig(path: path, reason: "__metadata__.config is absent") }
        let config = try ModelConfig.decode(json, path: path)
        var store = ParameterStore(file: file)
        do {
            self.vision = try SpikingVisionEncoder(config: config, store: &store)
            self.text = try SpikingTextEncoder(config: config, store: &store)
            self.annVision = try config.annVision.map { try ANNVisionEncoder(config: config, twin: $0, store: &store, prefix: "ann_vision.") }
        } catch let e as SafeTensorsError { throw CheckpointError.file(e) }
        try store.finish()
        self.config = config
        self.metadata = file.metadata
    }
}
