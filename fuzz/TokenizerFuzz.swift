// libFuzzer target: the WordPiece tokenizer with the real all-MiniLM-L6-v2 vocabulary (assets/minilm/vocab.txt,
// loaded once; path from SPIKECLIP_VOCAB, set by fuzz/run.sh) on arbitrary bytes decoded as UTF-8 (invalid
// sequences become U+FFFD, which the tokenizer drops). Checks the invariants of encode for two context lengths,
// and those of Visualize's terminalSafe on the same text (the explorer shows prompts through it).
import Foundation
import SpikeCLIP
import Visualize

let fuzzTokenizer: WordPieceTokenizer = {
    let path = ProcessInfo.processInfo.environment["SPIKECLIP_VOCAB"] ?? "assets/minilm/vocab.txt"
    do { return try WordPieceTokenizer(vocabPath: path) } catch { fatalError("cannot load the vocabulary: \(error)") }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let t = fuzzTokenizer
    let pieces = t.wordPieceIds(text)
    precondition(pieces.allSatisfy { t.vocabulary.indices.contains($0) }, "ids inside the vocabulary")
    for l in [2, 77] {
        let e = t.encode(text, contextLength: l)
        precondition(e.ids.count == l && e.pieces.count == l && e.attentionMask.count == l, "length L")
        precondition(e.ids[0] == t.clsId && e.ids[e.length - 1] == t.sepId, "[CLS] first, [SEP] last")
        precondition(e.length == min(l, pieces.count + 2) && e.untruncatedLength == pieces.count + 2, "lengths")
        precondition(e.attentionMask == (0..<l).map { $0 < e.length ? 1 : 0 }, "mask")
        precondition(e.ids[e.length...].allSatisfy { $0 == t.padId }, "padding")
        precondition(Array(e.ids[1..<(e.length - 1)]) == Array(pieces.prefix(l - 2)), "kept pieces")
    }
    // terminalSafe: one column per Character, nothing that joins a neighbouring cell, no control or format scalar.
    let safe = terminalSafe(text)
    precondition(safe.count == text.count, "terminalSafe keeps the Character count")
    precondition(safe.allSatisfy { $0.unicodeScalars.count == 1 }, "single-scalar Characters")
    precondition(("|" + safe + "|").count == safe.count + 2, "no Character joins a neighbour")
    precondition(!safe.unicodeScalars.contains {
        let c = $0.properties.generalCategory
        return c == .control || c == .format
    }, "no control or format scalar")
    return 0
}
