/// Neuron parameters of one spiking layer, as the config states them (`lif.*`; `attn_lif` takes `lif.attn_v_threshold`).
public struct NeuronSpec: Sendable, Equatable, Codable {
    /// Neuron model (``NeuronModels/kinds``).
    public var kind: String
    /// Membrane time constant (time steps).
    public var tau: Float
    public var vThreshold: Float
    public var vReset: Float
}

/// One layer of a spiking encoder, as data (issue 12): its module path, what it computes, which layers feed it and
/// the shape of its output per time step and batch item. The forward pass, the recording, energy accounting,
/// `inspect` and the explorer's layer lists all walk the same ``LayerGraph``.
public struct LayerSpec: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The encoder's real-valued input, the same at every time step (direct coding of the image).
        case input
        /// The text embedding module (`text.clip_embedding`, SPEC 1.3): token ids -> `[L*E]` (`[L*2E]`, each
        /// position's `[e, -e]`, when `signed`), repeated over time.
        case tokenEmbedding(kind: String, signed: Bool)
        /// 3x3 convolution, stride 1, padding 1, BatchNorm `<name minus _conv>_bn` folded (`patch_embed.block*_conv`).
        case conv3x3(inChannels: Int, outChannels: Int)
        /// Max pooling, kernel 3, stride 2, padding 1 (`block3_mp`, `block4_mp`).
        case maxPool3x3s2
        /// A spiking neuron layer (LIF or another ``NeuronModel``); its spikes are what rasters show.
        case neuron(NeuronSpec)
        /// 1x1 convolution over channels-first positions (Conv1d/Conv2d kernel 1, weight shape `kernel`), BatchNorm
        /// `<name minus _conv>_bn` folded, optional bias.
        case pointwise(inChannels: Int, outChannels: Int, kernel: [Int], bias: Bool)
        /// A linear layer over the flattened features (`text.fc1`, `text.fc2`).
        case linear(inFeatures: Int, outFeatures: Int)
        /// Spiking self-attention without softmax (SPEC 1.2), inputs `[q, k, v]`: `(q k^T) v * scale` per head.
        case attention(heads: Int, scale: Float)
        /// Elementwise sum of the two inputs (a residual connection).
        case add
        /// Mean over the positions (when more than one) and the time-weighted sum over steps with `weights_tensor`
        /// (`<prefix>weights_tensor`, raw multipliers); per step it gives the features anytime readouts use.
        case readout(positions: Int, weightsKey: String)
        /// The final linear projection of the readout (`vision.proj`), applied once after the time sum.
        case projection(inFeatures: Int, outFeatures: Int)

        /// One line for `inspect` and the explorer: the kind and its parameters.
        public var summary: String {
            func g(_ x: Float) -> String { x == x.rounded() ? String(Int(x)) : String(x) }
            switch self {
            case .input: return "input (direct coding)"
            case let .tokenEmbedding(kind, signed): return "token embedding (\(kind)\(ModelConfig.EmbeddingConfig.signedNote(signed)))"
            case let .conv3x3(i, o): return "conv 3x3 \(i)->\(o) +BN"
            case .maxPool3x3s2: return "max pool 3x3 s2"
            case let .neuron(n): return "\(n.kind.uppercased()) tau \(g(n.tau)) v_th \(g(n.vThreshold))"
            case let .pointwise(i, o, _, _): return "conv 1x1 \(i)->\(o) +BN"
            case let .linear(i, o): return "linear \(i)->\(o)"
            case let .attention(heads, scale): return "spiking attention \(heads) heads x\(g(scale))"
            case .add: return "residual add"
            case let .readout(n, _): return n > 1 ? "token mean, time weights" : "time weights"
            case let .projection(i, o): return "linear \(i)->\(o) (once)"
            }
        }
    }

    /// Module path, e.g. `vision.block.0.attn.q_lif` (docs/CHECKPOINT.md); the prefix of the layer's tensors.
    public let name: String
    public let kind: Kind
    /// Names of the layers whose outputs feed this one (empty for the input).
    public let inputs: [String]
    /// Output shape per time step and batch item, PyTorch order: `[C, H, W]`, `[D, N]` or `[F]`.
    public let shape: [Int]

    /// Output values per time step and batch item.
    public var elements: Int { shape.reduce(1, *) }

    /// The neuron parameters, for neuron layers.
    public var neuron: NeuronSpec? { if case let .neuron(n) = kind { return n } else { return nil } }
}

/// The ordered layers of one spiking encoder, built from the config in one place (issue 12).
public struct LayerGraph: Sendable, Equatable {
    public let layers: [LayerSpec]
    /// Time steps `T`.
    public let steps: Int

    /// The layer named `name`.
    public subscript(name: String) -> LayerSpec? { layers.first { $0.name == name } }

    /// The spiking layers in forward order (the names recordings, rasters and membrane requests use).
    public var neuronLayers: [LayerSpec] { layers.filter { $0.neuron != nil } }

    /// Heads of the graph's spiking attention (every block has the same), nil without attention.
    public var attentionHeads: Int? {
        for l in layers { if case let .attention(heads, _) = l.kind { return heads } }
        return nil
    }

    /// Multiply-accumulates of one item's forward pass if every product ran densely (the work BLAS does; what
    /// `spikeclip bench` divides by time for its dense-equivalent rate): the sum of ``denseMACs(of:)``. Units: MAC
    /// per item.
    public var denseMACs: Double { layers.reduce(0) { $0 + denseMACs(of: $1) } }

    /// One layer's share of ``denseMACs``: convs count all 9 taps, attention `q k^T` and `attn v` count `2 N^2 D`,
    /// per-step layers count `T` times, the projection once; 0 for layers without a product (neurons, pooling, adds).
    public func denseMACs(of l: LayerSpec) -> Double {
        let positions = Double(l.shape.dropFirst().reduce(1, *))
        switch l.kind {
        case let .conv3x3(i, o): return Double(steps) * positions * Double(i * o * 9)
        case let .pointwise(i, o, _, _): return Double(steps) * positions * Double(i * o)
        case let .linear(i, o): return Double(steps) * Double(i * o)  // one row per item (the text MLP)
        case .attention: return Double(steps) * 2 * positions * positions * Double(l.shape[0])
        case let .projection(i, o): return Double(i * o)
        default: return 0
        }
    }

    /// The neuron parameters every spiking layer of `config` gets (`attention: true` for `attn_lif`).
    static func neuron(_ config: ModelConfig, attention: Bool = false) -> LayerSpec.Kind {
        let l = config.lif
        return .neuron(NeuronSpec(kind: l.kind ?? "lif", tau: Float(l.tau), vThreshold: Float(attention ? l.attnVThreshold : l.vThreshold),
                                  vReset: Float(l.vReset)))
    }

    /// Channel widths of the conv tokenizer (`patch_embed` / the ANN twin's `embeddings`): C_in -> D/8 -> D/4 -> D/2 -> D -> D.
    static func tokenizerChannels(inChannels: Int, d: Int) -> [(Int, Int)] {
        [(inChannels, d / 8), (d / 8, d / 4), (d / 4, d / 2), (d / 2, d), (d, d)]
    }

    /// The spiking image encoder (official `Vision_Encoder`, Spikingformer-style; SPEC 1.2): a conv tokenizer
    /// (`patch_embed`, C -> D/8 -> D/4 -> D/2 -> D -> D with two max pools, so `N = H*W/16` tokens), `depths` spiking
    /// transformer blocks on a real-valued residual stream, the token-mean time-weighted readout and `proj`.
    public static func spikingVision(_ config: ModelConfig) -> LayerGraph {
        let v = config.vision
        let d = v.embedDims, dh = v.hiddenDims, h = v.imageSize[0], w = v.imageSize[1]
        var layers: [LayerSpec] = []
        var previous = ""
        func add(_ name: String, _ kind: LayerSpec.Kind, _ shape: [Int], inputs: [String]? = nil) {
            layers.append(LayerSpec(name: name, kind: kind, inputs: inputs ?? (previous.isEmpty ? [] : [previous]), shape: shape))
            previous = name
        }
        let p = "vision.patch_embed."
        add("vision.pixels", .input, [v.inChannels, h, w])
        // Five 3x3 convs (channels from `tokenizerChannels`, shared with the ANN twin); max pools before block3/block4's LIFs.
        let (h2, w2) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1)
        let (gh, gw) = ((h2 - 1) / 2 + 1, (w2 - 1) / 2 + 1)
        let sides = [(h, w), (h, w), (h, w), (h2, w2), (gh, gw)]
        for (j, (cin, cout)) in tokenizerChannels(inChannels: v.inChannels, d: d).enumerated() {
            let (sh, sw) = sides[j]
            if j > 0 {
                if j >= 3 { add(p + "block\(j)_mp", .maxPool3x3s2, [cin, sh, sw]) }
                add(p + "block\(j)_lif", neuron(config), [cin, sh, sw])
            }
            add(p + "block\(j)_conv", .conv3x3(inChannels: cin, outChannels: cout), [cout, sh, sw])
        }
        let n = gh * gw
        var stream = previous
        for i in 0..<v.depths {
            let a = "vision.block.\(i).attn.", m = "vision.block.\(i).mlp."
            add(a + "proj_lif", neuron(config), [d, gh, gw], inputs: [stream])
            for x in ["q", "k", "v"] {
                add(a + x + "_conv", .pointwise(inChannels: d, outChannels: d, kernel: [d, d, 1], bias: false), [d, n], inputs: [a + "proj_lif"])
                add(a + x + "_lif", neuron(config), [d, n])
            }
            add(a + "attention", .attention(heads: v.numHeads, scale: 0.125), [d, n], inputs: [a + "q_lif", a + "k_lif", a + "v_lif"])
            add(a + "attn_lif", neuron(config, attention: true), [d, n])
            add(a + "proj_conv", .pointwise(inChannels: d, outChannels: d, kernel: [d, d, 1], bias: true), [d, n])
            add(a + "residual", .add, [d, gh, gw], inputs: [stream, a + "proj_conv"])
            stream = previous
            add(m + "mlp1_lif", neuron(config), [d, gh, gw])
            add(m + "mlp1_conv", .pointwise(inChannels: d, outChannels: dh, kernel: [dh, d, 1, 1], bias: true), [dh, gh, gw])
            add(m + "mlp2_lif", neuron(config), [dh, gh, gw])
            add(m + "mlp2_conv", .pointwise(inChannels: dh, outChannels: d, kernel: [d, dh, 1, 1], bias: true), [d, gh, gw])
            add(m + "residual", .add, [d, gh, gw], inputs: [stream, m + "mlp2_conv"])
            stream = previous
        }
        add("vision.readout", .readout(positions: n, weightsKey: "vision.weights_tensor"), [d], inputs: [stream])
        add("vision.proj", .projection(inFeatures: d, outFeatures: v.targetDim), [v.targetDim])
        return LayerGraph(layers: layers, steps: config.T)
    }

    /// The spiking text encoder (official `Language_Encoder`; SPEC 1.3): embedding `[L*E]` repeated over `T`,
    /// `mlp_lif1`, `fc1`, `mlp_lif2`, `fc2`, time-weighted readout. With `text.embedding.signed` (not official,
    /// docs/CHECKPOINT.md) the embedding gives `[L*2E]` and `fc1` reads that many inputs.
    public static func spikingText(_ config: ModelConfig) -> LayerGraph {
        let t = config.text
        let signed = t.embedding.signed == true
        let features = t.contextLength * t.embedDim * (signed ? 2 : 1)
        let layers = [
            LayerSpec(name: "text.clip_embedding", kind: .tokenEmbedding(kind: t.embedding.kind, signed: signed), inputs: [], shape: [features]),
            LayerSpec(name: "text.mlp_lif1", kind: neuron(config), inputs: ["text.clip_embedding"], shape: [features]),
            LayerSpec(name: "text.fc1", kind: .linear(inFeatures: features, outFeatures: t.hiddenDim), inputs: ["text.mlp_lif1"], shape: [t.hiddenDim]),
            LayerSpec(name: "text.mlp_lif2", kind: neuron(config), inputs: ["text.fc1"], shape: [t.hiddenDim]),
            LayerSpec(name: "text.fc2", kind: .linear(inFeatures: t.hiddenDim, outFeatures: t.targetDim), inputs: ["text.mlp_lif2"], shape: [t.targetDim]),
            LayerSpec(name: "text.readout", kind: .readout(positions: 1, weightsKey: "text.weights_tensor"), inputs: ["text.fc2"], shape: [t.targetDim]),
        ]
        return LayerGraph(layers: layers, steps: config.T)
    }
}
