import Foundation
import SpikeCLIP
import Visualize

extension PanelID {
    public static let image = PanelID("image")
}

/// Image source, thumbnail, true label, directory browser.
enum ImagePanel: ExplorerPanel {
    static let id = PanelID.image
    static let title = "Image"
    static let helpLines: [String] = ["Image    s source  n/p next/prev  N/P +-100  i index", "         directory: Enter opens, Backspace goes up",
                                      "         Enter on a .safetensors: compare with it"]
    static let tile: Tile = .share(.left, 32)

    static func boxTitle(_ state: ExplorerState) -> String {
        switch state.source {
        case .demo: return "Image  s:source n/p:next/prev"
        case .fashionMNIST: return "Image  s:source n/p:+-1 N/P:+-100 i:index"
        case .directory: return "Image  s:source j/k:select Enter:open Bksp:up"
        }
    }

    static func handle(_ key: Key, _ state: inout ExplorerState, _ input: PanelInput) -> Effect? {
        state.handleImage(key)
    }

    static func render(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard width > 10, height > 2 else { return g }
        g.put(fit("source: \(state.source.rawValue) (s)", width), x: 0, y: 0, role: .accent)
        if state.source == .directory {
            // The listing on the left; the image last opened from it on the right when there is room.
            let listW = ctx.image != nil && width >= 50 ? width / 2 : width
            g.put(fit(state.directory, listW), x: 0, y: 1, role: .dim)
            let rows = height - 2
            if state.directoryEntries.isEmpty { g.put(fit("listing...", listW), x: 0, y: 2, role: .dim) }
            let first = listFirst(selected: state.directorySelection, count: state.directoryEntries.count, rows: rows)
            for (row, i) in (first..<min(state.directoryEntries.count, first + rows)).enumerated() {
                let e = state.directoryEntries[i]
                let text = (i == state.directorySelection ? "> " : "  ") + e.name + (e.isDirectory ? "/" : e.isCheckpoint ? " (compare)" : "")
                g.put(fit(text, listW - 1), x: 0, y: 2 + row, role: i == state.directorySelection ? .accent : (e.isDirectory ? .dim : .normal))
            }
            if listW < width, let image = ctx.image {
                g.blit(imageView(state, ctx, image, width: width - listW, height: height - 1), x: listW, y: 1)
            }
            return g
        }
        guard let image = ctx.image else {
            g.put(fit("no image loaded", width), x: 0, y: 1, role: .warning)
            return g
        }
        if let typed = state.indexBuffer {
            g.put(fit("go to test index: \(typed)_   Enter: go  Esc: cancel", width), x: 0, y: height - 1, role: .accent)
        } else if state.source == .fashionMNIST {
            g.put(fit("n/p: +-1  N/P: +-100  i: type an index", width), x: 0, y: height - 1, role: .dim)
        }
        g.blit(imageView(state, ctx, image, width: width, height: height - 2), x: 0, y: 1)  // the last row: key hints
        return g
    }

    /// Title and label, thumbnail, and the two models' top-1 beside it; for `clip-then-resize` both views side by side.
    static func imageView(_ state: ExplorerState, _ ctx: FrameContext, _ image: ImageInput, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard width > 0, height > 1 else { return g }
        g.put(fit(image.title + (image.label.map { "  label: " + $0 } ?? ""), width), x: 0, y: 0)
        if let clip = image.clipPreview, width >= 12, height >= 4 {
            // What each side reads: CLIP's crop and the spiking encoder's input resized from it (official pipeline).
            let half = (width - 1) / 2
            let thumbH = max(1, min(height - 3, half / 2))
            g.put(fit("CLIP \(image.clipSide)px", half), x: 0, y: 1, role: .ann)
            g.put(fit("SNN \(image.previewHeight)x\(image.previewWidth)", half), x: half + 1, y: 1, role: .snn)
            let big = Thumbnail(pixels: clip, imageHeight: image.clipSide, imageWidth: image.clipSide)
            let small = Thumbnail(pixels: image.preview, imageHeight: image.previewHeight, imageWidth: image.previewWidth)
            g.blit(big.render(width: half, height: thumbH, glyphs: state.glyphs), x: 0, y: 2)
            g.blit(small.render(width: half, height: thumbH, glyphs: state.glyphs), x: half + 1, y: 2)
            if let a = ctx.analysis, 2 + thumbH < height {
                var line = "SNN: " + a.classNames[a.snn.top1]
                if let ann = a.ann { line += "  \(a.annName ?? "ANN"): " + a.classNames[ann.top1] }
                g.put(fit(line, width), x: 0, y: 2 + thumbH, role: .snn)
            }
            return g
        }
        // Two columns per pixel row keeps the thumbnail square; leave 16 columns for the predictions when possible.
        let thumbW = min(width >= 36 ? width - 16 : width, max(1, height - 1) * 2)
        let thumbH = max(1, min(height - 1, thumbW / 2))
        let thumb = Thumbnail(pixels: image.preview, imageHeight: image.previewHeight, imageWidth: image.previewWidth)
        g.blit(thumb.render(width: thumbW, height: thumbH, glyphs: state.glyphs), x: 0, y: 1)
        if let a = ctx.analysis, width - thumbW > 14 {
            let x = thumbW + 2
            let w = width - x
            g.put(fit("SNN: " + a.classNames[a.snn.top1], w), x: x, y: 2, role: .snn)
            if let ann = a.ann { g.put(fit("\(a.annName == "CLIP" ? "CLIP" : "ANN"): " + a.classNames[ann.top1], w), x: x, y: 3, role: .ann) }
            if let label = image.label {
                let ok = a.classNames[a.snn.top1].lowercased() == label.lowercased()
                g.put(fit(ok ? "correct" : "true: " + label, w), x: x, y: 4, role: ok ? .snn : .warning)
            }
        }
        return g
    }
}

extension ImagePanel {
    static func list(_ state: ExplorerState, _ input: PanelInput) -> (items: [String], selected: Int)? {
        state.source == .directory ? (state.directoryEntries.map(\.name), state.directorySelection) : nil
    }

    static func select(_ index: Int, _ state: inout ExplorerState, _ input: PanelInput) -> Effect {
        state.directorySelection = index
        return .redraw
    }

    static func listWindow(_ state: ExplorerState, _ ctx: FrameContext, height: Int) -> (row: Int, first: Int)? {
        guard state.source == .directory else { return nil }
        return (2, listFirst(selected: state.directorySelection, count: state.directoryEntries.count, rows: height - 2))
    }

    static func explanation(_ state: ExplorerState, _ ctx: FrameContext) -> [String] {
        guard let image = ctx.image else { return ["No image yet: s picks a source (demo images, Fashion-MNIST, a directory)."] }
        let channels = image.pixels.count / max(1, image.previewHeight * image.previewWidth)
        var lines: [String] = []
        if let a = ctx.analysis {
            let truth = image.label.map { a.classNames[a.snn.top1].lowercased() == $0.lowercased() ? " (correct)" : " (true label: \($0))" } ?? ""
            lines.append("The spiking model reads it as '\(a.classNames[a.snn.top1])'\(truth)" + (a.ann.map { "; its ANN twin as '\(a.classNames[$0.top1])'." } ?? "."))
        }
        lines.append("Input \(channels)x\(image.previewHeight)x\(image.previewWidth) (C x H x W), fed as real values to the first convolution at every time step (direct encoding): the spiking encoder's only MACs.")
        lines.append("Everything after it is binary spikes: each layer of LIF neurons turns its input current into spikes over T time steps.")
        return lines
    }
}

extension ExplorerState {
    mutating func handleImage(_ key: Key) -> Effect {
        switch key {
        case .char("s"):
            source = ImageSourceKind.allCases[(ImageSourceKind.allCases.firstIndex(of: source)! + 1) % ImageSourceKind.allCases.count]
            if source == .directory { return .listDirectory }
            return .loadImage
        default: break
        }
        switch source {
        case .demo:
            switch key {
            case .char("n"), .right, .down: demoIndex += 1; return .loadImage
            case .char("p"), .left, .up: demoIndex -= 1; return .loadImage
            default: return .none
            }
        case .fashionMNIST:
            switch key {
            case .char("n"), .right: fashionIndex += 1; return .loadImage
            case .char("p"), .left: fashionIndex -= 1; return .loadImage
            case .char("N"), .down, .pageDown: fashionIndex += 100; return .loadImage
            case .char("P"), .up, .pageUp: fashionIndex -= 100; return .loadImage
            case .char("i"): indexBuffer = ""; return .redraw
            default: return .none
            }
        case .directory:
            switch key {
            case .down, .char("j"): directorySelection = min(directoryEntries.count - 1, directorySelection + 1); return .redraw
            case .up, .char("k"): directorySelection = max(0, directorySelection - 1); return .redraw
            case .backspace: enter(".."); return .listDirectory
            case .enter, .char("o"):
                guard directoryEntries.indices.contains(directorySelection) else { return .none }
                let entry = directoryEntries[directorySelection]
                if entry.isDirectory { enter(entry.name); return .listDirectory }
                if entry.isCheckpoint { return .loadComparison((directory as NSString).appendingPathComponent(entry.name)) }
                chosenFile = (directory as NSString).appendingPathComponent(entry.name)
                return .loadImage
            default: return .none
            }
        }
    }
}
