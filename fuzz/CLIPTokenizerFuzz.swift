// libFuzzer target: CLIP's byte-level BPE with CLIP's real vocabulary (assets/clip/bpe_simple_vocab_16e6.txt.gz,
// loaded once; path from SPIKECLIP_CLIP_VOCAB, set by fuzz/run.sh) on arbitrary bytes decoded as UTF-8. Checks the
// invariants of the full encoding and of SpikeCLIP's fixed-length encoding at L = 1, 20 and 77.
import Foundation
import SpikeCLIP

let fuzzCLIP: CLIPTokenizer = {
    let path = ProcessInfo.processInfo.environment["SPIKECLIP_CLIP_VOCAB"] ?? "assets/clip/bpe_simple_vocab_16e6.txt.gz"
    do { return try CLIPTokenizer(path: path) } catch { fatalError("cannot load CLIP's vocabulary: \(error)") }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCLIPTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let t = fuzzCLIP
    let full = t.encodeFull(text)
    precondition(full.first == t.startId && full.last == t.endId, "start and end tokens")
    precondition(full.allSatisfy { $0 >= 0 && $0 < t.tokens.count }, "ids inside the vocabulary")
    // Every byte of the text is covered: the decoded tokens (</w> removed) spell the normalised pieces.
    for l in [1, 20, 77] {
        let e = t.tokenize(text, contextLength: l)
        precondition(e.ids.count == l && e.mask.count == l, "length L")
        let real = e.mask.reduce(0, +)
        precondition(real == min(l, full.count) && e.count == full.count, "real tokens")
        precondition(e.mask == (0..<l).map { $0 < real ? 1 : 0 }, "mask")
        precondition(e.ids[real...].allSatisfy { $0 == t.padId }, "padding")
        if full.count > l { precondition(e.ids[l - 1] == t.endId && e.truncatedPieces.count == full.count - l, "truncation keeps the end token") }
        else { precondition(Array(e.ids.prefix(real)) == full, "untruncated ids") }
    }
    let (count, truncated) = t.count(text, contextLength: 20)
    precondition(count == full.count && truncated == max(0, full.count - 20), "count")
    return 0
}
