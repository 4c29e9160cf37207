// libFuzzer target: the IDX reader (plain and gzip) on arbitrary bytes (built by fuzz/run.sh). Any input must
// parse or throw a one-line ImageError; records and labels of a parsed file must be readable, and indices outside
// 0..<count must throw idxRecordOutOfRange.
import SpikeCLIP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let file = try IDXFile(data: bytes, path: "fuzz.idx")
        let isImages = file.dimensions.count == 3
        for index in Set([0, 1, file.count - 1]) where index >= 0 && index < file.count {
            if isImages {
                let image = try file.image(at: index)
                precondition(image.samples.count == image.width * image.height, "record size")
                precondition(image.samples.allSatisfy { $0 >= 0 && $0 <= 1 }, "samples in [0, 1]")
            } else {
                let label = try file.label(at: index)
                precondition((0...255).contains(label), "label is a byte")
            }
        }
        for index in [-1, file.count, Int.max] {
            do {
                if isImages { _ = try file.image(at: index) } else { _ = try file.label(at: index) }
                preconditionFailure("record \(index) of \(file.count) did not throw")
            } catch ImageError.idxRecordOutOfRange {
            }
        }
    } catch let error as ImageError {
        precondition(!error.description.contains("\n"), "multi-line error: \(error)")
    } catch {
        preconditionFailure("unexpected error type: \(error)")
    }
    return 0
}
