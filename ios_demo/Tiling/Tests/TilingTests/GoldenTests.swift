import Foundation
import XCTest
@testable import Tiling

/// The Swift tiler against tests/golden/tiling.json, written by the Python reference. Run with `swift test` in
/// ios_demo/Tiling on a Mac (or Linux with a Swift toolchain); the file is found relative to this source file.
final class GoldenTests: XCTestCase {
    struct Case: Decodable {
        let name: String
        let height, width, overlap, scale: Int
        let tile, ys, xs, padded, output_shape, output: [Int]
    }
    struct Golden: Decodable { let cases: [Case] }

    func loadGolden() throws -> Golden {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tests/golden/tiling.json")
        return try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }

    /// The stand-in model of the golden file: nearest-neighbour upscaling plus 0.25 x the tile's mean.
    func probeModel(scale: Int, tileH: Int, tileW: Int) -> TileRunner {
        return { lr in
            let mean = Float(lr.reduce(0.0) { $0 + Double($1) } / Double(lr.count))
            let n = tileH * scale, m = tileW * scale
            return (0..<(3 * n * m)).map { i in
                let c = i / (n * m), oy = (i / m) % n, ox = i % m
                return lr[(c * tileH + oy / scale) * tileW + ox / scale] + 0.25 * mean
            }
        }
    }

    func testGoldenCases() throws {
        let golden = try loadGolden()
        XCTAssertEqual(golden.cases.count, 7)
        for c in golden.cases {
            let grid = try Tiling.makeGrid(height: c.height, width: c.width, tileH: c.tile[0], tileW: c.tile[1],
                                           overlap: c.overlap)
            XCTAssertEqual(grid.ys, c.ys, c.name)
            XCTAssertEqual(grid.xs, c.xs, c.name)
            XCTAssertEqual([grid.paddedHeight, grid.paddedWidth], c.padded, c.name)
            var image = [UInt8](repeating: 0, count: c.height * c.width * 3)
            for y in 0..<c.height { for x in 0..<c.width { for ch in 0..<3 {
                image[(y * c.width + x) * 3 + ch] = UInt8((37 * x + 91 * y + 53 * ch + x * y) % 256)
            } } }
            var out = [UInt8](repeating: 0, count: c.height * c.scale * c.width * c.scale * 3)
            let rowBytes = c.width * c.scale * 3
            try Tiling.upscaleTiled(image: image, height: c.height, width: c.width, scale: c.scale, tileH: c.tile[0],
                                    tileW: c.tile[1], overlap: c.overlap,
                                    run: probeModel(scale: c.scale, tileH: c.tile[0], tileW: c.tile[1])) { top, rows in
                out.replaceSubrange((top * rowBytes)..<(top * rowBytes + rows.count), with: rows)
            }
            XCTAssertEqual(out.count, c.output.count, c.name)
            let worst = zip(out, c.output).map { abs(Int($0) - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1, "\(c.name): differs by \(worst) levels (1 allowed for float rounding)")
        }
    }

    func testOverlapNotBelowTileIsRefused() {
        XCTAssertThrowsError(try Tiling.makeGrid(height: 10, width: 10, tileH: 16, tileW: 16, overlap: 16))
    }
}
