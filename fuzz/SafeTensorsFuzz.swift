// libFuzzer target: the safetensors reader and the checkpoint config on arbitrary bytes (built by fuzz/run.sh).
// Any input must either parse or throw a one-line SafeTensorsError / CheckpointError; every tensor that parsed must
// be readable within its byte range.
import SpikeCLIP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let file = try SafeTensorsFile(bytes: bytes, path: "fuzz.safetensors")
        for key in file.keys {
            let info = try file.info(key)
            let values = try file.floats(key)
            precondition(values.count == info.elementCount, "floats(\(key)) count")
            if !info.dtype.isFloatingPoint {
                let ints = try file.ints(key)
                precondition(ints.count == info.elementCount, "ints(\(key)) count")
            }
            precondition(file.rawBytes(key).count == info.byteRange.count, "rawBytes(\(key)) count")
        }
        if let json = file.metadata["config"] {
            do {
                _ = try ModelConfig.decode(json, path: "fuzz.safetensors")
            } catch let error as CheckpointError {
                precondition(!error.description.contains("\n"), "multi-line error: \(error)")
            }
        }
    } catch let error as SafeTensorsError {
        precondition(!error.description.contains("\n"), "multi-line error: \(error)")
    } catch {
        preconditionFailure("unexpected error type: \(error)")
    }
    return 0
}
