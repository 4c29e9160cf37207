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
    let ms = Timing.milliseconds(iterations) { _ = encoder.embed(prompt, tokenizer: tokenizer) }
    let p50 = Timing.quantile(ms, 0.5), p95 = Timing.quantile(ms, 0.95)
    // `%-44@` does not pad on Linux Foundation, so the label is padded here.
    let label = "tokenizer + MiniLM, one 8-word prompt".padding(toLength: 48, withPad: " ", startingAt: 0)
    say(label + String(format: " p50 %8.3f ms   p95 %8.3f ms", p50, p95))
}
