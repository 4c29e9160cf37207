import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Element types a safetensors file may hold that this reader understands.
///
/// Model parameters must be `f32`, `f16` or `bf16` (SPEC section 3); the integer types exist for golden fixtures
/// (token ids, spike bytes). Any other dtype string is ``SafeTensorsError/unsupportedDType(path:key:dtype:)``.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case i64 = "I64"
    case u8 = "U8"

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i64: return 8
        case .u8: return 1
        }
    }

    /// True for the floating-point types a checkpoint may store parameters in.
    public var isFloatingPoint: Bool { self == .f32 || self == .f16 || self == .bf16 }
}

/// Why a safetensors file could not be read. Every case names the file and, where there is one, the tensor key.
public enum SafeTensorsError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The file could not be opened or mapped.
    case cannotOpen(path: String, reason: String)
    /// The file is shorter than its header or its data section says.
    case truncated(path: String, needed: Int, actual: Int)
    /// The 8-byte header length exceeds ``SafeTensorsFile/maxHeaderBytes``.
    case headerTooLarge(path: String, size: UInt64, limit: Int)
    /// The header is not UTF-8 JSON of the safetensors layout.
    case badHeader(path: String, reason: String)
    /// A tensor uses a dtype this reader does not support.
    case unsupportedDType(path: String, key: String, dtype: String)
    /// A tensor's `data_offsets` fall outside the data section or are reversed.
    case offsetsOutOfRange(path: String, key: String, begin: Int, end: Int, dataSize: Int)
    /// A tensor's byte length disagrees with its shape and dtype.
    case sizeMismatch(path: String, key: String, bytes: Int, expected: Int, shape: [Int])
    /// Two tensors share bytes.
    case overlapping(path: String, key: String, other: String)
    /// A requested tensor is absent.
    case missingTensor(path: String, key: String)
    /// A requested tensor has a dtype the caller cannot use.
    case wrongDType(path: String, key: String, dtype: String, expected: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "\(quotedPreview(path, limit: 400)): cannot open: \(quotedPreview(reason, limit: 120))"
        case let .truncated(path, needed, actual):
            return "\(quotedPreview(path, limit: 400)): truncated: needs \(needed) bytes, file has \(actual)"
        case let .headerTooLarge(path, size, limit):
            return "\(quotedPreview(path, limit: 400)): header of \(size) bytes exceeds the limit of \(limit) bytes (not a safetensors file?)"
        case let .badHeader(path, reason):
            return "\(quotedPreview(path, limit: 400)): invalid safetensors header: \(quotedPreview(reason, limit: 120))"
        case let .unsupportedDType(path, key, dtype):
            return "\(quotedPreview(path, limit: 400)): tensor '\(quotedPreview(key, limit: 120))' has unsupported dtype \(quotedPreview(dtype, limit: 120)) (supported: F32, F16, BF16, I32, I64, U8)"
        case let .offsetsOutOfRange(path, key, begin, end, dataSize):
            return "\(quotedPreview(path, limit: 400)): tensor '\(quotedPreview(key, limit: 120))' data_offsets [\(begin), \(end)] outside the data section of \(dataSize) bytes"
        case let .sizeMismatch(path, key, bytes, expected, shape):
            return "\(quotedPreview(path, limit: 400)): tensor '\(quotedPreview(key, limit: 120))' holds \(bytes) bytes but shape \(shape) needs \(expected)"
        case let .overlapping(path, key, other):
            return "\(quotedPreview(path, limit: 400)): tensor '\(quotedPreview(key, limit: 120))' overlaps tensor '\(quotedPreview(other, limit: 120))'"
        case let .missingTensor(path, key):
            return "\(quotedPreview(path, limit: 400)): missing tensor '\(quotedPreview(key, limit: 120))'"
        case let .wrongDType(path, key, dtype, expected):
            return "\(quotedPreview(path, limit: 400)): tensor '\(quotedPreview(key, limit: 120))' has dtype \(quotedPreview(dtype, limit: 120)), expected \(quotedPreview(expected, limit: 120))"
        }
    }
}

/// One tensor's entry in a safetensors header.
public struct TensorInfo: Sendable, Equatable {
    public let key: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range inside the data section (after the 8-byte length and the header).
    public let byteRange: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A read-only, memory-mapped safetensors file (format: 8-byte little-endian header length, UTF-8 JSON header,
/// raw little-endian data). Validation is strict: the header is checked completely at open.
///
/// Source: the safetensors format description (huggingface/safetensors README). Limits follow SPEC section 3.
public final class SafeTensorsFile: @unchecked Sendable {
    /// Largest header accepted, in bytes (SPEC section 3: 100 MB).
    public static let maxHeaderBytes = 100_000_000

    /// Path used in error messages.
    public let path: String
    /// Tensors by key.
    public let tensors: [String: TensorInfo]
    /// The `__metadata__` string map (empty when absent).
    public let metadata: [String: String]

    private let base: UnsafeRawPointer?
    var baseAddress: UnsafeRawPointer? { base }
    var dataOffset: Int { dataStart }
    private let mappedLength: Int
    private let dataStart: Int
    /// True when `base` is a heap copy (``init(bytes:path:)``), false when it is an mmap of the file.
    private let ownsCopy: Bool

    /// Tensor keys in data order.
    public var keys: [String] { tensors.values.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }.map(\.key) }

    /// Maps and validates the file at `path`.
    /// - Throws: ``SafeTensorsError`` naming the file and, where relevant, the key.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SafeTensorsError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SafeTensorsError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw SafeTensorsError.cannotOpen(path: path, reason: "is a directory") }
        let size = Int(st.st_size)
        var pointer: UnsafeRawPointer? = nil
        if size > 0 {
            let m = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
            guard let m, m != MAP_FAILED else {
                throw SafeTensorsError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
            }
            pointer = UnsafeRawPointer(m)
        }
        do {
            let parsed = try Self.parse(path: path, base: pointer, size: size)
            self.base = pointer
            self.mappedLength = size
            self.ownsCopy = false
            self.dataStart = parsed.dataStart
            self.tensors = parsed.tensors
            self.metadata = parsed.metadata
        } catch {
            if let pointer { munmap(UnsafeMutableRawPointer(mutating: pointer), size) }
            throw error
        }
    }

    /// Validates a safetensors file held in memory (a copy of `bytes` is kept); `path` only names it in errors.
    /// Same checks and errors as ``init(path:)``; used by the fuzz targets (fuzz/README.md) and for embedded data.
    /// - Throws: ``SafeTensorsError``.
    public init(bytes: [UInt8], path: String = "<memory>") throws {
        self.path = path
        var pointer: UnsafeRawPointer? = nil
        if !bytes.isEmpty {
            let copy = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 16)
            bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            pointer = UnsafeRawPointer(copy)
        }
        do {
            let parsed = try Self.parse(path: path, base: pointer, size: bytes.count)
            self.base = pointer
            self.mappedLength = bytes.count
            self.ownsCopy = true
            self.dataStart = parsed.dataStart
            self.tensors = parsed.tensors
            self.metadata = parsed.metadata
        } catch {
            pointer?.deallocate()
            throw error
        }
    }

    deinit {
        guard let base else { return }
        if ownsCopy { base.deallocate() } else { munmap(UnsafeMutableRawPointer(mutating: base), mappedLength) }
    }

    private static func parse(path: String, base: UnsafeRawPointer?, size: Int)
        throws -> (dataStart: Int, tensors: [String: TensorInfo], metadata: [String: String])
    {
        guard size >= 8, let base else { throw SafeTensorsError.truncated(path: path, needed: 8, actual: size) }
        let headerLength = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(maxHeaderBytes) else {
            throw SafeTensorsError.headerTooLarge(path: path, size: headerLength, limit: maxHeaderBytes)
        }
        let n = Int(headerLength)
        guard size >= 8 + n else { throw SafeTensorsError.truncated(path: path, needed: 8 + n, actual: size) }
        let headerBytes = Data(bytes: base + 8, count: n)
        guard String(data: headerBytes, encoding: .utf8) != nil else {
            throw SafeTensorsError.badHeader(path: path, reason: "header is not valid UTF-8")
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: headerBytes, options: [])
        } catch {
            throw SafeTensorsError.badHeader(path: path, reason: "header is not valid JSON")
        }
        guard let object = json as? [String: Any] else {
            throw SafeTensorsError.badHeader(path: path, reason: "header is not a JSON object")
        }
        let dataSize = size - 8 - n
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (key, value) in object {
            if key == "__metadata__" {
                guard let map = value as? [String: Any] else {
                    throw SafeTensorsError.badHeader(path: path, reason: "__metadata__ is not an object")
                }
                for (k, v) in map {
                    guard let s = v as? String else {
                        throw SafeTensorsError.badHeader(path: path, reason: "__metadata__ value '\(k)' is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            guard let entry = value as? [String: Any],
                let dtypeName = entry["dtype"] as? String,
                let shapeAny = entry["shape"] as? [Any],
                let offsetsAny = entry["data_offsets"] as? [Any], offsetsAny.count == 2
            else {
                throw SafeTensorsError.badHeader(path: path, reason: "entry '\(key)' lacks dtype, shape or data_offsets")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw SafeTensorsError.unsupportedDType(path: path, key: key, dtype: dtypeName)
            }
            var shape: [Int] = []
            for d in shapeAny {
                guard let v = exactInt(d), v >= 0 else {
                    throw SafeTensorsError.badHeader(path: path, reason: "entry '\(key)' has an invalid shape")
                }
                shape.append(v)
            }
            guard let begin = exactInt(offsetsAny[0]), let end = exactInt(offsetsAny[1]) else {
                throw SafeTensorsError.badHeader(path: path, reason: "entry '\(key)' has invalid data_offsets")
            }
            guard begin >= 0, end >= begin, end <= dataSize else {
                throw SafeTensorsError.offsetsOutOfRange(path: path, key: key, begin: begin, end: end, dataSize: dataSize)
            }
            var expected = dtype.byteCount
            for d in shape {
                let (product, overflow) = expected.multipliedReportingOverflow(by: d)
                guard !overflow else {
                    throw SafeTensorsError.badHeader(path: path, reason: "entry '\(key)' shape \(shape) is too large")
                }
                expected = product
            }
            guard end - begin == expected else {
                throw SafeTensorsError.sizeMismatch(path: path, key: key, bytes: end - begin, expected: expected, shape: shape)
            }
            tensors[key] = TensorInfo(key: key, dtype: dtype, shape: shape, byteRange: begin..<end)
        }
        // Overlap check: sort by start; every non-empty tensor must begin at or after the previous one's end.
        let ordered = tensors.values.filter { !$0.byteRange.isEmpty }.sorted {
            ($0.byteRange.lowerBound, $0.key) < ($1.byteRange.lowerBound, $1.key)
        }
        for (previous, current) in zip(ordered, ordered.dropFirst())
        where current.byteRange.lowerBound < previous.byteRange.upperBound {
            throw SafeTensorsError.overlapping(path: path, key: current.key, other: previous.key)
        }
        return (8 + n, tensors, metadata)
    }

    /// JSON numbers arrive as NSNumber; accept only exact non-fractional integers.
    private static func exactInt(_ value: Any) -> Int? {
        if let n = value as? NSNumber {
            let d = n.doubleValue
            guard d.rounded() == d, abs(d) < 9.0e15 else { return nil }
            return n.intValue
        }
        return nil
    }

    /// The entry for `key`.
    /// - Throws: ``SafeTensorsError/missingTensor(path:key:)``.
    public func info(_ key: String) throws -> TensorInfo {
        guard let info = tensors[key] else { throw SafeTensorsError.missingTensor(path: path, key: key) }
        return info
    }

    /// The tensor `key` converted to `Float` (F32/F16/BF16 decoded exactly; integers converted).
    /// - Returns: values in row-major order of `info(key).shape`.
    /// - Throws: ``SafeTensorsError/missingTensor(path:key:)``.
    public func floats(_ key: String) throws -> [Float] {
        let info = try info(key)
        guard let base else { return [] }
        let p = base + dataStart + info.byteRange.lowerBound
        let count = info.elementCount
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            switch info.dtype {
            case .f32:
                for i in 0..<count { buffer[i] = Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            case .f16:
                for i in 0..<count { buffer[i] = floatFromHalf(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case .bf16:
                for i in 0..<count {
                    buffer[i] = Float(bitPattern: UInt32(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                }
            case .i32:
                for i in 0..<count { buffer[i] = Float(Int32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
            case .i64:
                for i in 0..<count { buffer[i] = Float(Int64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
            case .u8:
                for i in 0..<count { buffer[i] = Float(p.load(fromByteOffset: i, as: UInt8.self)) }
            }
            initialized = count
            releasePages(p, count: info.byteRange.count)
        }
    }

    /// Drops the mapped pages of a tensor just copied from the resident set (`MADV_DONTNEED`; the mapping is private
    /// and read-only, so a later read faults the file's bytes back in). Loading a checkpoint then peaks at the
    /// model's own arrays, not arrays plus the whole mapped file (issue 15: explorer RSS at the official size).
    private func releasePages(_ p: UnsafeRawPointer, count: Int) {
        guard !ownsCopy, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = Int(bitPattern: p) / page * page
        let end = (Int(bitPattern: p) + count + page - 1) / page * page
        _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED)
    }

    /// The integer tensor `key` (I32, I64 or U8) as `Int`.
    /// - Throws: ``SafeTensorsError/wrongDType(path:key:dtype:expected:)`` for floating-point tensors.
    public func ints(_ key: String) throws -> [Int] {
        let info = try info(key)
        guard let base else { return [] }
        let p = base + dataStart + info.byteRange.lowerBound
        switch info.dtype {
        case .i32: return (0..<info.elementCount).map { Int(Int32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        case .i64: return (0..<info.elementCount).map { Int(Int64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
        case .u8: return (0..<info.elementCount).map { Int(p.load(fromByteOffset: $0, as: UInt8.self)) }
        default:
            throw SafeTensorsError.wrongDType(path: path, key: key, dtype: info.dtype.rawValue, expected: "I32, I64 or U8")
        }
    }
}

/// IEEE 754 binary16 to binary32, exact for every input (subnormals, infinities, NaN).
@inline(__always)
func floatFromHalf(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        if mantissa == 0 { return Float(bitPattern: sign) }
        // Subnormal: value = mantissa * 2^-24.
        let magnitude = Float(mantissa) * Float(bitPattern: 0x3380_0000)  // 2^-24
        return sign == 0 ? magnitude : -magnitude
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    return Float(bitPattern: sign | (UInt32(exponent + 112) << 23) | (mantissa << 13))
}

extension SafeTensorsFile {
    /// The raw little-endian bytes of tensor `key` (empty if absent).
    public func rawBytes(_ key: String) -> [UInt8] {
        guard let info = tensors[key], let base = baseAddress else { return [] }
        return Array(UnsafeRawBufferPointer(start: base + dataOffset + info.byteRange.lowerBound, count: info.byteRange.count))
    }
}
