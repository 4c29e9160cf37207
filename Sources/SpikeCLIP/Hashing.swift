import Crypto
import Foundation

/// SHA-256 of a file (swift-crypto, streamed in 1 MiB chunks), lowercase hex.
/// - Throws: ``BundleError/unreadable(path:reason:)``.
public func sha256Hex(path: String) throws -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw BundleError.unreadable(path: path, reason: "cannot open") }
    defer { try? handle.close() }
    var hasher = SHA256()
    while true {
        let chunk: Data
        do { chunk = try handle.read(upToCount: 1 << 20) ?? Data() } catch { throw BundleError.unreadable(path: path, reason: "\(error)") }
        if chunk.isEmpty { break }
        hasher.update(data: chunk)
    }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
}

/// SHA-256 of `bytes`, lowercase hex.
public func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}
