import Foundation
import SpikeCLIP
import Visualize

extension PanelID {
    public static let prompts = PanelID("prompts")
}

/// Class prompts and templates, with the live token counter against L.
enum PromptsPanel: ExplorerPanel {
    static let id = PanelID.prompts
    static let title = "Prompts"
    static let helpLines: [String] = ["Prompts  j/k select  a add  e/Enter edit  d delete", "         m templates  t ensembling  Esc cancels"]
    static let tile: Tile = .share(.left, 42)

    static func boxTitle(_ state: ExplorerState) -> String { state.editingTemplates ? "Prompts  a:add e:edit d:del m:classes t:ensemble" : "Prompts  a:add e:edit d:del m:templates t:ensemble" }

    static func handle(_ key: Key, _ state: inout ExplorerState, _ input: PanelInput) -> Effect? {
        state.handlePrompts(key)
    }

    static func render(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard width > 10, height > 2 else { return g }
        let l = ctx.contextLength
        let firstTemplate = state.templates.first ?? "{}"
        var y = 0
        let header = state.editingTemplates ? "Templates (m: class prompts)" : "Class prompts"
        let items = state.editingTemplates ? state.templates : state.classNames
        let selected = min(max(0, items.count - 1), state.editingTemplates ? state.selectedTemplate : state.selectedClass)
        g.put(fit("\(header) \(selected + 1)/\(items.count)   ensembling \(state.ensemble ? "on" : "off") (t)", width), x: 0, y: y, role: .accent)
        y += 1
        let listHeight = Self.listHeight(state, height: height)
        let first = listFirst(selected: selected, count: items.count, rows: listHeight)
        for i in first..<min(items.count, first + listHeight) {
            // Worst case over the templates in use: a class prompt is filled into each template.
            let worst = worstTokens(state, ctx, item: items[i])
            let counter = worst.truncated > 0 ? "[\(worst.count)/\(l) cut \(worst.truncated)]" : "[\(worst.count)/\(l)]"
            let marker = i == selected ? ">" : " "
            let nameWidth = max(1, width - counter.count - 3)
            g.put("\(marker) \(fit(items[i], nameWidth)) ", x: 0, y: y, role: i == selected ? .accent : .normal)
            g.put(counter, x: width - counter.count, y: y, role: worst.truncated > 0 ? .warning : .dim)
            y += 1
        }
        if let buffer = state.editBuffer {
            // The edit line sits right under the list, where the eye is.
            let editY = min(y, height - 2)
            // The same worst case as the list shows once the entry is saved.
            let t = worstTokens(state, ctx, item: buffer)
            let info = t.truncated > 0 ? "\(t.count)/\(l) tokens: \(t.truncated) will be cut" : "\(t.count)/\(l) tokens"
            // The end of the text stays in view while typing: a long entry shows "…" and its last characters.
            let room = max(1, width - "edit> ".count - 1)
            let safe = terminalSafe(buffer)
            let shown = displayWidth(safe) <= room ? safe : String(cutMark) + displaySuffix(safe, columns: room - 1)
            g.put(fit("edit> " + shown + "_", width), x: 0, y: editY, role: .accent)
            g.put(fit(info + "   Enter: save  Esc: cancel", width), x: 0, y: editY + 1, role: t.truncated > 0 ? .warning : .dim)
            y = editY + 2
        }
        if !state.editingTemplates && y < height {
            let count = state.templates.count
            let t = state.ensemble ? "\(count) template\(count == 1 ? "" : "s") (ensembled)" : "template: \(firstTemplate)"
            let counts = state.ensemble && count > 1 ? "; [n/L]: tokens in its longest prompt" : "; [n/L]: tokens of L"
            g.put(fit("\(t)\(counts)  (m: edit templates)", width), x: 0, y: y, role: .dim)
        }
        return g
    }
}

extension PromptsPanel {
    /// Rows of the class or template list in a panel inside `height` rows tall.
    static func listHeight(_ state: ExplorerState, height: Int) -> Int {
        max(1, height - 1 - (state.editBuffer != nil ? 2 : 0) - (state.editingTemplates ? 0 : 1))
    }

    static func list(_ state: ExplorerState, _ input: PanelInput) -> (items: [String], selected: Int)? {
        state.editingTemplates ? (state.templates, state.selectedTemplate) : (state.classNames, state.selectedClass)
    }

    static func select(_ index: Int, _ state: inout ExplorerState, _ input: PanelInput) -> Effect {
        if state.editingTemplates { state.selectedTemplate = index } else { state.selectedClass = index }
        return .redraw
    }

    static func listWindow(_ state: ExplorerState, _ ctx: FrameContext, height: Int) -> (row: Int, first: Int)? {
        let (items, selected) = state.editingTemplates ? (state.templates, state.selectedTemplate) : (state.classNames, state.selectedClass)
        return (1, listFirst(selected: min(max(0, items.count - 1), selected), count: items.count, rows: listHeight(state, height: height)))
    }

    static func explanation(_ state: ExplorerState, _ ctx: FrameContext) -> [String] {
        let m = state.ensemble ? state.templates.count : 1
        var lines: [String] = []
        if let a = ctx.analysis {
            lines.append("Top-1 now: '\(a.classNames[a.snn.top1])' (p \(String(format: "%.2f", a.snn.probabilities[a.snn.top1]))) of K = \(state.classNames.count) classes x M = \(m) template\(m == 1 ? "" : "s") = \(state.classNames.count * m) prompts (at most L = \(ctx.contextLength) tokens each).")
        }
        lines.append("Zero-shot: the spiking text encoder reads every prompt; a class's prompt embeddings are averaged into one class embedding, so any text can be a class, trained on or not.")
        lines.append("The image is scored against each class by cosine similarity x logit scale, then softmax.")
        return lines
    }

    /// Token use of the longest prompt `item` takes part in: a class prompt filled into each template in use, or a
    /// template filled with each class prompt.
    static func worstTokens(_ state: ExplorerState, _ ctx: FrameContext, item: String) -> PromptTokens {
        let prompts = state.editingTemplates ? state.classNames.map { PromptSet.fill(item, with: $0) }
            : (state.ensemble ? state.templates : Array(state.templates.prefix(1))).map { PromptSet.fill($0, with: item) }
        return prompts.map(ctx.tokens).max { $0.count < $1.count } ?? ctx.tokens(item)
    }
}

extension ExplorerState {
    mutating func handlePrompts(_ key: Key) -> Effect {
        // Switching lists first: each list keeps its own selection.
        if key == .char("m") { editingTemplates.toggle(); return .redraw }
        let editingTemplates = self.editingTemplates
        let count = editingTemplates ? templates.count : classNames.count
        var selected = min(max(0, count - 1), editingTemplates ? selectedTemplate : selectedClass)
        defer { if editingTemplates { selectedTemplate = selected } else { selectedClass = selected } }
        switch key {
        case .down, .char("j"): selected = min(max(0, count - 1), selected + 1); return .redraw
        case .up, .char("k"): selected = max(0, selected - 1); return .redraw
        case .char("t"): ensemble.toggle(); return .recompute
        case .char("a"): editBuffer = ""; editIndex = nil; return .redraw
        case .char("e"), .enter:
            guard count > 0 else { return .none }
            editBuffer = editingTemplates ? templates[selected] : classNames[selected]
            editIndex = selected
            return .redraw
        case .char("d"), .delete:
            guard count > 1 else { message = "keep at least one \(editingTemplates ? "template" : "class prompt")"; return .redraw }
            if editingTemplates { templates.remove(at: selected) } else { classNames.remove(at: selected) }
            selected = min(selected, count - 2)
            return .recompute
        default: return .none
        }
    }
}
