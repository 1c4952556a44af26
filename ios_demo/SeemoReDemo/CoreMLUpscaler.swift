import CoreML
import Foundation
import Tiling

/// A compiled Core ML model and its card behind the shared tiler.
final class CoreMLUpscaler {
    let card: ModelCard
    private let model: MLModel
    private let inputName = "lr", outputName = "sr"

    /// Finds `<name>.mlmodelc` (compiled by Xcode from the .mlpackage) and `<name>.mlpackage.json` in the bundle.
    static func available() -> [(name: String, card: URL, compiled: URL)] {
        let cards = Bundle.main.urls(forResourcesWithExtension: "json", subdirectory: nil) ?? []
        return cards.compactMap { card in
            let name = card.deletingPathExtension().deletingPathExtension().lastPathComponent
            guard card.deletingPathExtension().pathExtension == "mlpackage",
                  let compiled = Bundle.main.url(forResource: name, withExtension: "mlmodelc") else { return nil }
            return (name, card, compiled)
        }
    }

    init(card: ModelCard, compiled: URL, computeUnits: MLComputeUnits) throws {
        self.card = card
        let config = MLModelConfiguration()
        config.computeUnits = computeUnits
        model = try MLModel(contentsOf: compiled, configuration: config)
        let inShape = model.modelDescription.inputDescriptionsByName[inputName]?.multiArrayConstraint?.shape.map { $0.intValue }
        let outShape = model.modelDescription.outputDescriptionsByName[outputName]?.multiArrayConstraint?.shape.map { $0.intValue }
        let (th, tw) = (card.tile.height, card.tile.width)
        guard inShape == [1, 3, th, tw], outShape == nil || outShape! == [1, 3, th * card.scale, tw * card.scale] else {
            throw ModelProblem.mismatch("\(card.file) does not match its card: model takes \(inShape ?? []) and gives " +
                "\(outShape ?? []), card says tile \(card.tile.text) x\(card.scale); copy both from the same export")
        }
    }

    /// One tile through Core ML: float32 NCHW in, float32 NCHW out.
    func run(_ tile: [Float]) throws -> [Float] {
        let (th, tw) = (card.tile.height, card.tile.width)
        // The card's value ranges: the tiler works in [0, 1]; the model takes and gives card.input/output.range.
        let (ilo, ihi) = (Float(card.input.range[0]), Float(card.input.range[1]))
        let (olo, ohi) = (Float(card.output.range[0]), Float(card.output.range[1]))
        let input = try MLMultiArray(shape: [1, 3, NSNumber(value: th), NSNumber(value: tw)], dataType: .float32)
        input.withUnsafeMutableBufferPointer(ofType: Float.self) { ptr, _ in
            for i in 0..<tile.count { ptr[i] = ilo + tile[i] * (ihi - ilo) }
        }
        let features = try MLDictionaryFeatureProvider(dictionary: [inputName: MLFeatureValue(multiArray: input)])
        guard let out = try model.prediction(from: features).featureValue(for: outputName)?.multiArrayValue else {
            throw ModelProblem.unsupported("the model gave no '\(outputName)' output")
        }
        let (oh, ow) = (th * card.scale, tw * card.scale)
        let n = 3 * oh * ow
        guard out.count == n else { throw ModelProblem.mismatch("output has \(out.count) values, expected \(n)") }
        var result = [Float](repeating: 0, count: n)
        let strides = out.strides.map { $0.intValue }
        let contiguous = strides == [3 * oh * ow, oh * ow, ow, 1]
        if out.dataType == .float32 && contiguous {
            out.withUnsafeBufferPointer(ofType: Float.self) { ptr in for i in 0..<n { result[i] = ptr[i] } }
        } else {  // padded rows or another element type: index through the strides
            for c in 0..<3 { for y in 0..<oh { for x in 0..<ow {
                result[(c * oh + y) * ow + x] = out[c * strides[1] + y * strides[2] + x * strides[3]].floatValue
            } } }
        }
        return result.map { ($0 - olo) / (ohi - olo) }
    }
}
