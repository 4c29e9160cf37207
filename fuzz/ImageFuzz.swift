// libFuzzer target: image decoding (format sniffing, libpng through CImageShims, TurboJPEG, PGM/PPM, IDX record 0)
// and preprocessing to two targets, on arbitrary bytes (built by fuzz/run.sh). Any input must decode or throw a
// one-line ImageError; a decoded image must preprocess to exactly C x H x W finite values.
import Foundation
import SpikeCLIP

/// A preprocessing target from `preprocess` config JSON (the memberwise initialiser is internal to the engine).
func fuzzTarget(_ json: String) -> ImagePreprocessor {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    do {
        return try ImagePreprocessor(config: try decoder.decode(ModelConfig.PreprocessConfig.self, from: Data(json.utf8)))
    } catch {
        fatalError("bad fuzz target \(json): \(error)")
    }
}

let fuzzTargets = [
    fuzzTarget(#"{"image_size": [28, 28], "channels": 1, "mean": [0.2860], "std": [0.3530]}"#),
    fuzzTarget(#"{"image_size": [32, 24], "channels": 3, "mean": [0.4914, 0.4822, 0.4465], "std": [0.2470, 0.2435, 0.2616]}"#),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let image = try ImageDecoder.decode(data: bytes, path: "fuzz.png")
        precondition(image.samples.count == image.width * image.height * image.channels, "sample count")
        precondition(image.samples.allSatisfy { $0 >= 0 && $0 <= 1 }, "samples in [0, 1]")
        for target in fuzzTargets {
            let input = target(image)
            precondition(input.count == target.config.channels * target.outputHeight * target.outputWidth, "input size")
            precondition(input.allSatisfy(\.isFinite), "finite input")
        }
    } catch let error as ImageError {
        precondition(!error.description.contains("\n"), "multi-line error: \(error)")
    } catch {
        preconditionFailure("unexpected error type: \(error)")
    }
    return 0
}
