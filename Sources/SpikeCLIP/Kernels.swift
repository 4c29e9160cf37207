import CBLAS

/// Which implementation computes the products of a forward pass.
///
/// - `blas`: OpenBLAS `cblas_sgemm` on every product (the default).
/// - `reference`: plain loops, kept as the readable reference and for tests.
/// - `spikeAware`: layers whose input is binary spikes accumulate only the weights of active inputs (an AC per
///   delivered spike, as on neuromorphic hardware); real-valued inputs fall back to BLAS. Must give the same spikes.
public enum KernelMode: String, Sendable, CaseIterable {
    case blas, reference, spikeAware = "spike-aware"
}

/// A linear layer's weights `W` `[O, I]` row-major with bias `[O]`, plus `W^T` `[I, O]` for the spike-aware path.
struct DenseWeights: Sendable {
    let outFeatures: Int
    let inFeatures: Int
    let weight: [Float]
    let weightT: [Float]
    let bias: [Float]

    init(weight: [Float], bias: [Float]?, outFeatures: Int, inFeatures: Int) {
        precondition(weight.count == outFeatures * inFeatures)
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.weight = weight
        self.bias = bias ?? [Float](repeating: 0, count: outFeatures)
        var t = [Float](repeating: 0, count: weight.count)
        for o in 0..<outFeatures { for i in 0..<inFeatures { t[i * outFeatures + o] = weight[o * inFeatures + i] } }
        self.weightT = t
    }

    /// `Y[M, O] = X[M, I] W^T + b`.
    /// - Parameters:
    ///   - x: `[M, I]` row-major.
    ///   - binary: the caller asserts `x` holds only 0 and 1 (spikes), enabling the spike-aware path.
    func apply(_ x: [Float], rows m: Int, mode: KernelMode, binary: Bool) -> [Float] {
        precondition(x.count == m * inFeatures)
        var y = [Float](repeating: 0, count: m * outFeatures)
        switch (mode, binary) {
        case (.spikeAware, true):
            // Accumulate-only: every active input adds its weight row W^T[i, :] to the output row.
            weightT.withUnsafeBufferPointer { wt in
                y.withUnsafeMutableBufferPointer { out in
                    for r in 0..<m {
                        let row = out.baseAddress! + r * outFeatures
                        for i in 0..<inFeatures where x[r * inFeatures + i] != 0 {
                            let w = wt.baseAddress! + i * outFeatures
                            for o in 0..<outFeatures { row[o] += w[o] }
                        }
                    }
                }
            }
        case (.reference, _):
            for r in 0..<m {
                for o in 0..<outFeatures {
                    var acc: Float = 0
                    for i in 0..<inFeatures { acc += x[r * inFeatures + i] * weight[o * inFeatures + i] }
                    y[r * outFeatures + o] = acc
                }
            }
        default:
            if m > 0 && outFeatures > 0 && inFeatures > 0 {
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(outFeatures), Int32(inFeatures),
                    1, x, Int32(inFeatures), weight, Int32(inFeatures), 0, &y, Int32(outFeatures))
            }
        }
        for r in 0..<m { for o in 0..<outFeatures { y[r * outFeatures + o] += bias[o] } }
        return y
    }
}

/// Transposes a `[rows, cols]` row-major matrix.
@inline(__always)
func transpose(_ x: [Float], rows: Int, cols: Int) -> [Float] {
    var y = [Float](repeating: 0, count: x.count)
    for r in 0..<rows { for c in 0..<cols { y[c * rows + r] = x[r * cols + c] } }
    return y
}

/// 3x3 convolution, stride 1, padding 1 (every conv of the Spikingformer tokenizer), BatchNorm already folded.
struct Conv3x3: Sendable {
    let inChannels: Int
    let outChannels: Int
    /// Weights as a dense layer over im2col patches: `[O, C*9]`.
    let dense: DenseWeights

    init(weight: [Float], bias: [Float], inChannels: Int, outChannels: Int) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.dense = DenseWeights(weight: weight, bias: bias, outFeatures: outChannels, inFeatures: inChannels * 9)
    }

    /// - Parameters:
    ///   - x: `[F, C, H, W]` (F frames = T*B).
    /// - Returns: `[F, O, H, W]`.
    func apply(_ x: [Float], frames: Int, height h: Int, width w: Int, mode: KernelMode, binary: Bool) -> [Float] {
        if mode == .blas || (mode == .spikeAware && !binary) {
            return applyBLAS(x, frames: frames, height: h, width: w)
        }
        let hw = h * w
        let k = inChannels * 9
        var out = [Float](repeating: 0, count: frames * outChannels * hw)
        var cols = [Float](repeating: 0, count: hw * k)
        for f in 0..<frames {
            // im2col: row p = output position, column (c, ky, kx).
            for i in 0..<cols.count { cols[i] = 0 }
            let inBase = f * inChannels * hw
            for y in 0..<h {
                for xx in 0..<w {
                    let p = y * w + xx
                    for c in 0..<inChannels {
                        for ky in 0..<3 {
                            let sy = y + ky - 1
                            if sy < 0 || sy >= h { continue }
                            for kx in 0..<3 {
                                let sx = xx + kx - 1
                                if sx < 0 || sx >= w { continue }
                                cols[p * k + c * 9 + ky * 3 + kx] = x[inBase + c * hw + sy * w + sx]
                            }
                        }
                    }
                }
            }
            let y = dense.apply(cols, rows: hw, mode: mode, binary: binary)  // [HW, O]
            let outBase = f * outChannels * hw
            for p in 0..<hw { for o in 0..<outChannels { out[outBase + o * hw + p] = y[p * outChannels + o] } }
        }
        return out
    }

    /// BLAS path: per frame, `Y[O, HW] = W[O, C*9] . cols[C*9, HW]` with a channel-major im2col built from shifted
    /// row copies, so the output lands in `[O, H, W]` without a transpose.
    private func applyBLAS(_ x: [Float], frames: Int, height h: Int, width w: Int) -> [Float] {
        let hw = h * w
        let k = inChannels * 9
        var out = [Float](repeating: 0, count: frames * outChannels * hw)
        var cols = [Float](repeating: 0, count: k * hw)
        x.withUnsafeBufferPointer { xp in
            cols.withUnsafeMutableBufferPointer { cp in
                out.withUnsafeMutableBufferPointer { op in
                    for f in 0..<frames {
                        let src = xp.baseAddress! + f * inChannels * hw
                        for c in 0..<inChannels {
                            for ky in 0..<3 {
                                for kx in 0..<3 {
                                    let row = cp.baseAddress! + ((c * 9 + ky * 3 + kx) * hw)
                                    let dx = kx - 1
                                    let x0 = max(0, -dx), x1 = min(w, w - dx)  // valid output columns
                                    for y in 0..<h {
                                        let sy = y + ky - 1
                                        let dst = row + y * w
                                        if sy < 0 || sy >= h {
                                            dst.update(repeating: 0, count: w)
                                            continue
                                        }
                                        if x0 > 0 { dst.update(repeating: 0, count: x0) }
                                        if x1 < w { (dst + x1).update(repeating: 0, count: w - x1) }
                                        if x1 > x0 { (dst + x0).update(from: src + c * hw + sy * w + x0 + dx, count: x1 - x0) }
                                    }
                                }
                            }
                        }
                        let y = op.baseAddress! + f * outChannels * hw
                        dense.weight.withUnsafeBufferPointer { wp in
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(hw), Int32(k),
                                        1, wp.baseAddress, Int32(k), cp.baseAddress, Int32(hw), 0, y, Int32(hw))
                        }
                        for o in 0..<outChannels {
                            let b = dense.bias[o]
                            for p in 0..<hw { y[o * hw + p] += b }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// 1x1 convolution / Conv1d with kernel 1 over channels-first frames, BatchNorm folded.
struct PointwiseConv: Sendable {
    let dense: DenseWeights

    /// - Parameters:
    ///   - x: `[F, C, N]`.
    /// - Returns: `[F, O, N]`.
    func apply(_ x: [Float], frames: Int, positions n: Int, mode: KernelMode, binary: Bool) -> [Float] {
        let c = dense.inFeatures, o = dense.outFeatures
        var out = [Float](repeating: 0, count: frames * o * n)
        if mode == .blas || (mode == .spikeAware && !binary) {
            // Per frame Y[O, N] = W[O, C] . X[C, N]: no transposes in the channels-first layout.
            x.withUnsafeBufferPointer { xp in
                out.withUnsafeMutableBufferPointer { op in
                    dense.weight.withUnsafeBufferPointer { wp in
                        for f in 0..<frames {
                            let y = op.baseAddress! + f * o * n
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(o), Int32(n), Int32(c),
                                        1, wp.baseAddress, Int32(c), xp.baseAddress! + f * c * n, Int32(n), 0, y, Int32(n))
                            for j in 0..<o {
                                let b = dense.bias[j]
                                for p in 0..<n { y[j * n + p] += b }
                            }
                        }
                    }
                }
            }
            return out
        }
        for f in 0..<frames {
            let frame = Array(x[(f * c * n)..<((f + 1) * c * n)])
            let y = dense.apply(transpose(frame, rows: c, cols: n), rows: n, mode: mode, binary: binary)  // [N, O]
            let base = f * o * n
            for p in 0..<n { for j in 0..<o { out[base + j * n + p] = y[p * o + j] } }
        }
        return out
    }
}

/// Max pooling, kernel 3, stride 2, padding 1 (`block3_mp`, `block4_mp`).
/// - Parameter x: `[F, C, H, W]`. - Returns: `[F, C, H', W']` with `H' = (H - 1) / 2 + 1`.
func maxPool3x3s2(_ x: [Float], frames: Int, channels: Int, height h: Int, width w: Int) -> (values: [Float], height: Int, width: Int) {
    let oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1
    var out = [Float](repeating: 0, count: frames * channels * oh * ow)
    for fc in 0..<(frames * channels) {
        let inBase = fc * h * w, outBase = fc * oh * ow
        for oy in 0..<oh {
            for ox in 0..<ow {
                var m = -Float.infinity
                for dy in -1...1 {
                    let y = oy * 2 + dy
                    if y < 0 || y >= h { continue }
                    for dx in -1...1 {
                        let xx = ox * 2 + dx
                        if xx < 0 || xx >= w { continue }
                        m = max(m, x[inBase + y * w + xx])
                    }
                }
                out[outBase + oy * ow + ox] = m
            }
        }
    }
    return (out, oh, ow)
}

/// LayerNorm over the last dimension. - Parameter x: `[M, D]`.
func layerNorm(_ x: [Float], rows m: Int, weight: [Float], bias: [Float], eps: Double) -> [Float] {
    let d = weight.count
    var y = [Float](repeating: 0, count: x.count)
    for r in 0..<m {
        var mean = 0.0
        for i in 0..<d { mean += Double(x[r * d + i]) }
        mean /= Double(d)
        var variance = 0.0
        for i in 0..<d { let e = Double(x[r * d + i]) - mean; variance += e * e }
        variance /= Double(d)
        let inv = 1 / (variance + eps).squareRoot()
        for i in 0..<d { y[r * d + i] = Float((Double(x[r * d + i]) - mean) * inv) * weight[i] + bias[i] }
    }
    return y
}

/// L2 normalisation of a vector (zero vectors stay zero).
public func l2Normalized(_ v: [Float]) -> [Float] {
    let n = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    return n > 0 ? v.map { Float(Double($0) / n) } : v
}
