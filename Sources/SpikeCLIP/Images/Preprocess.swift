/// Weights of the luma used to turn RGB into gray (`Y = r R + g G + b B` on the [0, 1] samples, no gamma).
public struct LumaWeights: Sendable, Equatable {
    public var red: Float
    public var green: Float
    public var blue: Float

    /// ITU-R BT.601: 0.299, 0.587, 0.114 (what Pillow's `convert("L")` approximates in integers).
    public static let bt601 = LumaWeights(red: 0.299, green: 0.587, blue: 0.114)
}

/// Turns a decoded image into the model input `[C, H, W]` of a checkpoint's `preprocess` config.
///
/// Order (docs/PREPROCESSING.md is the one place these rules are written down; the Python reference is
/// `training/spikeclip_training/preprocess.py`):
/// 1. samples already scaled to [0, 1] by the decoder (8-bit / 255, 16-bit / 65535, PNM / maxval);
/// 2. alpha composited on black: `c * a` (the alpha channel is then dropped);
/// 3. channels: gray -> RGB by replication, RGB -> gray by BT.601 luma;
/// 4. center crop to a square of side `S = min(W, H)`, offsets `floor((W - S) / 2)`, `floor((H - S) / 2)`;
/// 5. bilinear resize to `[H, W]` of the config, as PyTorch `F.interpolate(mode="bilinear", align_corners=False,
///    antialias=False)`;
/// 6. normalisation `(x - mean[c]) / std[c]`.
/// All arithmetic is Float.
public struct ImagePreprocessor: Sendable {
    public let config: ModelConfig.PreprocessConfig
    public let luma: LumaWeights
    /// CLIP's processor, for kind `clip-then-resize`: the spiking input is its output resized (bilinear) to
    /// `image_size`, as the official code feeds `F.interpolate(CLIPImageProcessor(x), size=(32, 32))`.
    public let clip: CLIPImagePreprocessor?

    /// Output height and width.
    public var outputHeight: Int { config.imageSize[0] }
    public var outputWidth: Int { config.imageSize[1] }

    /// - Throws: ``ImageError/badTarget(reason:)`` unless channels is 1 or 3, image_size is two positive sides and
    ///   mean/std hold one finite value per channel with std nonzero.
    public init(config: ModelConfig.PreprocessConfig, luma: LumaWeights = .bt601) throws {
        guard config.imageSize.count == 2, config.imageSize.allSatisfy({ $0 > 0 && $0 <= ImageLimits.maxSide }) else {
            throw ImageError.badTarget(reason: "image_size \(config.imageSize) must be [H, W] with sides in 1...\(ImageLimits.maxSide)")
        }
        guard config.channels == 1 || config.channels == 3 else {
            throw ImageError.badTarget(reason: "channels \(config.channels) (only 1 or 3)")
        }
        guard config.mean.count == config.channels, config.std.count == config.channels else {
            throw ImageError.badTarget(reason: "mean and std need \(config.channels) values each, got \(config.mean.count) and \(config.std.count)")
        }
        guard config.mean.allSatisfy(\.isFinite), config.std.allSatisfy({ $0.isFinite && $0 != 0 }) else {
            throw ImageError.badTarget(reason: "mean must be finite and std finite and nonzero")
        }
        self.config = config
        self.luma = luma
        if config.isCLIPThenResize {
            guard config.channels == 3, let edge = config.clipShortestEdge, let crop = config.clipCropSize,
                  (1...4096).contains(edge), (1...4096).contains(crop) else {
                throw ImageError.badTarget(reason: "clip-then-resize needs 3 channels and clip sizes in 1...4096")
            }
            clip = CLIPImagePreprocessor(shortestEdge: edge, cropSize: crop, mean: config.mean.map(Float.init), std: config.std.map(Float.init))
        } else {
            clip = nil
        }
    }

    /// Both inputs of `image`: the spiking encoder's `[C, H, W]` and, for `clip-then-resize`, CLIP's `[3, S, S]`
    /// (the view the spiking one is resized from).
    public func views(_ image: DecodedImage) -> PreparedImage {
        guard let clip else { return PreparedImage(spiking: normalized(image), clip: nil) }
        let full = clip(image)
        let s = clip.cropSize
        let small = Self.resizeBilinear(Planes(channels: 3, height: s, width: s, values: full), height: outputHeight, width: outputWidth)
        return PreparedImage(spiking: small.values, clip: full)
    }

    /// The spiking encoder's input for `image`: `[C, H, W]` Float, C = `config.channels`, `[H, W]` = `config.imageSize`.
    public func callAsFunction(_ image: DecodedImage) -> [Float] { views(image).spiking }

    /// Steps 2-6 (kind `normalize`).
    func normalized(_ image: DecodedImage) -> [Float] {
        let planes = Self.convertChannels(Self.compositeOnBlack(image), to: config.channels, luma: luma)
        let cropped = Self.centerCropSquare(planes)
        var output = Self.resizeBilinear(cropped, height: outputHeight, width: outputWidth)
        let plane = outputHeight * outputWidth
        for c in 0..<config.channels {
            let (mean, std) = (Float(config.mean[c]), Float(config.std[c]))
            for i in (c * plane)..<((c + 1) * plane) { output.values[i] = (output.values[i] - mean) / std }
        }
        return output.values
    }

    /// Planar image: `values` is `[C, H, W]`.
    public struct Planes: Sendable, Equatable {
        public var channels: Int
        public var height: Int
        public var width: Int
        public var values: [Float]
    }

    /// Step 2: `[H, W, C]` interleaved -> `[C', H, W]` planar with alpha composited on black (`c * a`); C' = 1 or 3.
    public static func compositeOnBlack(_ image: DecodedImage) -> Planes {
        let colors = image.hasAlpha ? image.channels - 1 : image.channels
        let plane = image.width * image.height
        var values = [Float](repeating: 0, count: colors * plane)
        let s = image.samples
        for i in 0..<plane {
            let base = i * image.channels
            let alpha: Float = image.hasAlpha ? s[base + colors] : 1
            for c in 0..<colors { values[c * plane + i] = image.hasAlpha ? s[base + c] * alpha : s[base + c] }
        }
        return Planes(channels: colors, height: image.height, width: image.width, values: values)
    }

    /// Step 3: 1 -> 3 by replication, 3 -> 1 by luma, same count unchanged.
    public static func convertChannels(_ planes: Planes, to channels: Int, luma: LumaWeights = .bt601) -> Planes {
        precondition(channels == 1 || channels == 3, "target channels must be 1 or 3")
        if planes.channels == channels { return planes }
        let plane = planes.height * planes.width
        if channels == 3 {
            return Planes(channels: 3, height: planes.height, width: planes.width,
                          values: planes.values + planes.values + planes.values)
        }
        var gray = [Float](repeating: 0, count: plane)
        let v = planes.values
        for i in 0..<plane {
            gray[i] = luma.red * v[i] + luma.green * v[plane + i] + luma.blue * v[2 * plane + i]
        }
        return Planes(channels: 1, height: planes.height, width: planes.width, values: gray)
    }

    /// Step 4: the centered square of side `min(H, W)`; offsets round down.
    public static func centerCropSquare(_ planes: Planes) -> Planes {
        let side = min(planes.height, planes.width)
        if planes.height == side, planes.width == side { return planes }
        let top = (planes.height - side) / 2, left = (planes.width - side) / 2
        var values = [Float](repeating: 0, count: planes.channels * side * side)
        for c in 0..<planes.channels {
            for y in 0..<side {
                let src = c * planes.height * planes.width + (top + y) * planes.width + left
                let dst = c * side * side + y * side
                for x in 0..<side { values[dst + x] = planes.values[src + x] }
            }
        }
        return Planes(channels: planes.channels, height: side, width: side, values: values)
    }

    /// Step 5: bilinear resize, PyTorch `upsample_bilinear2d` with `align_corners=False` and no antialiasing:
    /// `src = max((dst + 0.5) * in / out - 0.5, 0)`, `i0 = floor(src)`, `i1 = min(i0 + 1, in - 1)`,
    /// `lambda = src - i0`, `out = (1 - ly) ((1 - lx) x00 + lx x01) + ly ((1 - lx) x10 + lx x11)`.
    public static func resizeBilinear(_ planes: Planes, height: Int, width: Int) -> Planes {
        if planes.height == height, planes.width == width { return planes }
        let rows = sourceTaps(input: planes.height, output: height)
        let cols = sourceTaps(input: planes.width, output: width)
        var values = [Float](repeating: 0, count: planes.channels * height * width)
        let inPlane = planes.height * planes.width
        let v = planes.values
        for c in 0..<planes.channels {
            let base = c * inPlane
            for y in 0..<height {
                let r = rows[y]
                let row0 = base + r.i0 * planes.width, row1 = base + r.i1 * planes.width
                for x in 0..<width {
                    let k = cols[x]
                    let top = k.w0 * v[row0 + k.i0] + k.w1 * v[row0 + k.i1]
                    let bottom = k.w0 * v[row1 + k.i0] + k.w1 * v[row1 + k.i1]
                    values[(c * height + y) * width + x] = r.w0 * top + r.w1 * bottom
                }
            }
        }
        return Planes(channels: planes.channels, height: height, width: width, values: values)
    }

    /// The two source indices and weights of each output index along one axis.
    static func sourceTaps(input: Int, output: Int) -> [(i0: Int, i1: Int, w0: Float, w1: Float)] {
        let scale = Float(input) / Float(output)
        return (0..<output).map { o in
            let src = max(scale * (Float(o) + 0.5) - 0.5, 0)
            let i0 = Int(src)
            let i1 = i0 < input - 1 ? i0 + 1 : i0
            let lambda = src - Float(i0)
            return (i0, i1, 1 - lambda, lambda)
        }
    }
}

/// One image as each side of the comparison reads it.
public struct PreparedImage: Sendable, Equatable {
    /// The spiking image encoder's input `[C, H, W]`.
    public var spiking: [Float]
    /// CLIP's input `[3, S, S]` (kind `clip-then-resize`); nil when the ANN side reads the spiking input.
    public var clip: [Float]?

    public init(spiking: [Float], clip: [Float]?) {
        self.spiking = spiking
        self.clip = clip
    }
}
