import Foundation
import Visualize

/// A panel's identity: its name in snapshots, `--focus` and the registry. Each panel declares its own in its file.
public struct PanelID: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public init(_ name: String) { self.name = name }
    public var description: String { name }

    /// Every registered panel, in Tab and digit-key order.
    public static var allCases: [PanelID] { ExplorerPanels.all.map { $0.id } }
    /// The panel's tab-bar title.
    public var title: String { ExplorerPanels.panel(self).title }
    /// Position in the registry (digit key `rawValue + 1`).
    public var rawValue: Int { ExplorerPanels.all.firstIndex { $0.id == self } ?? 0 }
}

/// What a panel's key handler may need besides the state.
public struct PanelInput: Sendable {
    /// Number of LIF layers, time steps T, neurons per item of the selected layer, expanded prompts recorded.
    public var layers: Int, steps: Int, neurons: Int, prompts: Int
    /// The Spikes panel's layer: its name, per-item shape `[C, ...]` and the attention heads of its block (nil
    /// outside a transformer block): what an intervention picked from it addresses.
    public var layerName: String = ""
    public var layerShape: [Int] = []
    public var heads: Int? = nil
    /// The spiking layers in forward order (what `/` searches in the Spikes panel).
    public var layerNames: [String] = []
}

/// Where the tiled layout (from ``ExplorerView/tiledSize``) puts a panel.
public struct Tile: Sendable {
    public enum Column: Sendable { case left, right }
    public var column: Column
    /// Rows the panel takes out of `available` (the column's body height), or nil for the rest of the column.
    public var height: @Sendable (_ available: Int, _ ctx: FrameContext, _ state: ExplorerState) -> Int?

    public init(_ column: Column, height: @escaping @Sendable (_ available: Int, _ ctx: FrameContext, _ state: ExplorerState) -> Int?) {
        self.column = column
        self.height = height
    }

    /// `percent` of the column's height.
    public static func share(_ column: Column, _ percent: Int) -> Tile { Tile(column) { available, _, _ in available * percent / 100 } }
    /// What the other panels of the column leave.
    public static func rest(_ column: Column) -> Tile { Tile(column) { _, _, _ in nil } }
}

/// One panel of the explorer, everything about it in one place: title, key hints, help lines, key handling,
/// rendering and its place in the tiled layout. The tab bar, digit keys, help overlay and tiled layout are built
/// from ``ExplorerPanels/all``; adding a panel is one file plus one line there.
public protocol ExplorerPanel: Sendable {
    static var id: PanelID { get }
    /// Name in the tab bar and the panel box.
    static var title: String { get }
    /// The panel box's title: the name with the keys that work now.
    static func boxTitle(_ state: ExplorerState) -> String
    /// Lines for the help overlay (at most 54 columns each; the first starts with the panel's name).
    static var helpLines: [String] { get }
    static var tile: Tile { get }
    /// Handles a key while the panel is focused; nil when it does not use the key.
    static func handle(_ key: Key, _ state: inout ExplorerState, _ input: PanelInput) -> Effect?
    /// The panel's inside (without the box), `width` x `height` cells.
    static func render(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> CellGrid
    /// The list `/` searches and a mouse click picks from while the panel is focused (items, the selected one), nil
    /// when the panel has none now (issue 18).
    static func list(_ state: ExplorerState, _ input: PanelInput) -> (items: [String], selected: Int)?
    /// Selects item `index` of ``list(_:_:)``.
    static func select(_ index: Int, _ state: inout ExplorerState, _ input: PanelInput) -> Effect
    /// Where ``list(_:_:)`` is drawn in a panel inside `height` rows tall: the row of its first item on screen and
    /// that item's index; nil when it is not drawn (clicks then do nothing).
    static func listWindow(_ state: ExplorerState, _ ctx: FrameContext, height: Int) -> (row: Int, first: Int)?
    /// Presenter mode: two to four sentences on what the panel shows, in the field's terms, with the numbers on
    /// screen (wrapped by the caller).
    static func explanation(_ state: ExplorerState, _ ctx: FrameContext) -> [String]
}

extension ExplorerPanel {
    public static func list(_ state: ExplorerState, _ input: PanelInput) -> (items: [String], selected: Int)? { nil }
    public static func select(_ index: Int, _ state: inout ExplorerState, _ input: PanelInput) -> Effect { .none }
    public static func listWindow(_ state: ExplorerState, _ ctx: FrameContext, height: Int) -> (row: Int, first: Int)? { nil }
}

/// The first item shown of a list of `count` items in `rows` rows that keeps `selected` in the middle when it can
/// (the Prompts and directory lists; the same number for drawing and for mouse clicks).
func listFirst(selected: Int, count: Int, rows: Int) -> Int { max(0, min(selected - rows / 2, count - rows)) }

/// The panel registry.
public enum ExplorerPanels {
    /// Every panel, in Tab and digit-key order.
    public static let all: [any ExplorerPanel.Type] = [
        PromptsPanel.self, ImagePanel.self, SpikesPanel.self, ComparePanel.self, EnergyPanel.self, AnytimePanel.self,
        InterventionsPanel.self,
    ]

    /// The registered panel `id` (the first panel for an unknown id).
    public static func panel(_ id: PanelID) -> any ExplorerPanel.Type { all.first { $0.id == id } ?? all[0] }
}

/// The window of a table of `count` rows shown in `rows` screen rows from `scroll` (ANN vs SNN, lesion and sweep
/// tables), and when it does not fit the line that says how many rows are above and below; that line takes the last
/// of `rows` unless `noteRow` is false (the caller has a line for it).
func scrollWindow(_ count: Int, rows: Int, scroll: Int, noteRow: Bool = true) -> (first: Int, shown: Int, note: String?) {
    guard rows > 0 else { return (0, 0, nil) }
    if count <= rows { return (0, count, nil) }
    let shown = max(1, noteRow ? rows - 1 : rows)
    let first = max(0, min(scroll, count - shown))
    return (first, shown, "\(first) above, \(count - first - shown) below (j/k scroll)")
}
