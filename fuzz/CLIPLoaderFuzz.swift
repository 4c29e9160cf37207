// libFuzzer target: the Hugging Face CLIP loader. The first byte picks what the rest is: even, a config.json for
// `CLIPConfig.decode`; odd, a model.safetensors read by `SafeTensorsFile(bytes:)` and loaded as a `CLIPModel` with the
// tiny fixture's config (Tests/Fixtures/clip/tiny/config.json, path from SPIKECLIP_CLIP_FIXTURE). A config that decodes
// is checked for its invariants; a model that loads is run on one image and one prompt and must give finite features.
// Errors must be one line.
import Foundation
import SpikeCLIP

let fuzzTinyConfig: CLIPConfig = {
    let dir = ProcessInfo.processInfo.environment["SPIKECLIP_CLIP_FIXTURE"] ?? "Tests/Fixtures/clip/tiny"
    guard let data = FileManager.default.contents(atPath: dir + "/config.json") else { fatalError("no \(dir)/config.json") }
    do { return try CLIPConfig.decode(data, path: "config.json") } catch { fatalError("\(error)") }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCLIPLoader(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    do {
        if data[0] % 2 == 0 {
            let c = try CLIPConfig.decode(Data(bytes), path: "config.json")
            precondition(c.imageSize % c.patchSize == 0 && c.vision.hiddenSize % c.vision.numAttentionHeads == 0, "config invariants")
        } else {
            let file = try SafeTensorsFile(bytes: bytes, path: "model.safetensors")
            let model = try CLIPModel(config: fuzzTinyConfig, file: file)
            let c = model.config
            let image = try model.imageFeatures(pixels: [Float](repeating: 0.5, count: 3 * c.imageSize * c.imageSize), batch: 1)
            let text = try model.textFeatures(tokenIds: [[1, 2, c.eosTokenId]])
            precondition(image.count == c.projectionDim && text.count == c.projectionDim, "feature widths")
        }
    } catch {
        precondition(!"\(error)".contains("\n"), "one-line error")
    }
    return 0
}
