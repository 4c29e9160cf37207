import Foundation
import SpikeCLIP

/// Times the ANN text path on one 8-word prompt: WordPiece tokenization plus the MiniLM forward, mean pooling and
/// normalisation (issue 3's benchmark line). Loads `assets/minilm/{vocab.txt,model.f16.safetensors}` relative to the
/// current directory (the repository root); loading is not timed. Prints one line with p50 and p95 in ms.
/// - Throws: ``TokenizerError`` or ``CheckpointError`` when the asset cannot be loaded.
func benchTokenizerAndMiniLM(iterations: Int) throws {
    precondition(iterations >= 1)
    let tokenizer = try WordPieceTokenizer(vocabPath: "assets/minilm/vocab.txt")
    let encoder = try MiniLMTextEncoder(path: "assets/minilm/model.f16.safetensors")
    let prompt = "a black and white photo of a dress"
    _ = encoder.embed(prompt, tokenizer: tokenizer)  // warm-up
    var ms: [Double] = []
    for _ in 0..<iterations {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = encoder.embed(prompt, tokenizer: tokenizer)
        ms.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    ms.sort()
    let p50 = ms[ms.count / 2], p95 = ms[min(ms.count - 1, Int((Double(ms.count) * 0.95).rounded(.up)) - 1)]
    // `%-44@` does not pad on Linux Foundation, so the label is padded here.
    let label = "tokenizer + MiniLM, one 8-word prompt".padding(toLength: 48, withPad: " ", startingAt: 0)
    say(label + String(format: " p50 %8.3f ms   p95 %8.3f ms", p50, p95))
}
