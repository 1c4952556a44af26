import Foundation

/// The card the export step writes beside every artifact (<package>.json): schema 1 of seemore_edge/core/records.py
/// (ArtifactCard), the fields the Kotlin reader (android_demo/tiling ArtifactCard.kt) and tests/golden/artifact_card.json
/// share. Tile, overlap, scale and the value range come from it. Xcode ships only the compiled model, so the app cannot hash the package: it checks instead that the
/// compiled model's input and output shapes are the card's (CoreMLUpscaler.init), and copy_models.sh refuses a
/// package without its card.
struct ModelCard: Decodable {
    struct IO: Decodable { let layout: String; let dtype: String; let range: [Double] }
    /// The LR tile: [height, width].
    struct Tile: Decodable {
        let height: Int, width: Int
        init(from decoder: Decoder) throws {
            let value = try decoder.singleValueContainer()
            let hw = try value.decode([Int].self)
            guard hw.count == 2 else {
                throw DecodingError.dataCorruptedError(in: value, debugDescription: "tile is not [height, width]")
            }
            height = hw[0]; width = hw[1]
        }
        var text: String { "\(height)x\(width)" }
    }
    struct Scores: Decodable { let psnr: Double }
    struct Parent: Decodable { let name: String; let sha256: String }
    static let schemaVersion = 1
    let schema: Int
    let file: String
    let format: String
    let precision: String
    let scale: Int
    let tile: Tile
    let overlap: Int
    let sha256: String
    let input: IO
    let output: IO
    let psnr: [String: Scores]?
    let parent: Parent
    let executedBy: String?  // "executed_by": the runtime that measured psnr and latency, nil when none ran it

    var label: String { "Core ML \(precision.uppercased()) x\(scale) (tile \(tile.text))" }

    static func load(_ url: URL) throws -> ModelCard {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let card = try decoder.decode(ModelCard.self, from: Data(contentsOf: url))
        guard card.schema == schemaVersion else {
            throw ModelProblem.unsupported("\(card.file): card schema \(card.schema); this app reads schema \(schemaVersion) (re-export the model)")
        }
        guard card.input.layout == "NCHW", card.input.range.count == 2, card.output.range.count == 2,
              card.input.range[1] > card.input.range[0], card.output.range[1] > card.output.range[0] else {
            throw ModelProblem.unsupported("\(card.file): the card's layout or value ranges are not what this app feeds")
        }
        return card
    }
}

enum ModelProblem: LocalizedError {
    case noModel, mismatch(String), unsupported(String)
    var errorDescription: String? {
        switch self {
        case .noModel:
            return "No model present. Export one (python -m seemore_edge.export --formats mlpackage ...), run " +
                "ios_demo/copy_models.sh and rebuild."
        case .mismatch(let m), .unsupported(let m): return m
        }
    }
}
