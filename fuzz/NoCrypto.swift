// Stands in for Sources/SpikeCLIP/Hashing.swift in the fuzz build (swiftc alone cannot build swift-crypto's BoringSSL);
// no fuzz target hashes a file.
public func sha256Hex(path: String) throws -> String { fatalError("sha256Hex is not available in the fuzz build") }
