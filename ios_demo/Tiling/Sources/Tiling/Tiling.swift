import Foundation

/// The tiling specification of seemore_edge/tiling.py, ported line for line (tests/golden/tiling.json holds the
/// Python, Kotlin and Swift versions to it):
/// 1. an axis shorter than the tile's extent along it is mirrored (half-sample symmetric) up to that extent;
/// 2. along each axis tiles start every (extent - overlap) pixels, the last one moved back to end at the edge;
/// 3. overlapping outputs are blended with linear ramps of overlap * scale pixels;
/// 4. the result is cropped and rounded to 8 bits as floor(255 v + 0.5) after clamping to [0, 1].
/// Tiles are tileH x tileW LR pixels (a card's "tile": [height, width]); 180 x 320 takes a 720p frame at x4 in one call.
public struct Grid: Equatable {
    public let height: Int, width: Int, tileH: Int, tileW: Int, overlap: Int
    public let ys: [Int], xs: [Int]
    public var paddedHeight: Int { max(height, tileH) }
    public var paddedWidth: Int { max(width, tileW) }
    public var count: Int { ys.count * xs.count }
}

public enum TilingError: Error, CustomStringConvertible {
    case badTiling(String)
    case badModelOutput(String)
    public var description: String {
        switch self { case .badTiling(let m), .badModelOutput(let m): return m }
    }
}

/// One LR tile in, its SR tile out: float32 NCHW (1 x 3 x Th x Tw in [0, 1]) -> 1 x 3 x sTh x sTw.
public typealias TileRunner = ([Float]) throws -> [Float]

public enum Tiling {
    public static func axisStarts(_ length: Int, tile: Int, overlap: Int) -> [Int] {
        let len = max(length, tile)
        let stride = tile - overlap
        let n = Int((Double(len - tile) / Double(stride)).rounded(.up)) + 1
        return (0..<n).map { min($0 * stride, len - tile) }
    }

    public static func makeGrid(height: Int, width: Int, tileH: Int, tileW: Int, overlap: Int) throws -> Grid {
        guard min(tileH, tileW) >= 1, overlap >= 0, overlap < min(tileH, tileW) else {
            throw TilingError.badTiling("need tile sides >= 1 and 0 <= overlap < each, got tile \(tileH)x\(tileW), " +
                                        "overlap \(overlap)")
        }
        return Grid(height: height, width: width, tileH: tileH, tileW: tileW, overlap: overlap,
                    ys: axisStarts(height, tile: tileH, overlap: overlap),
                    xs: axisStarts(width, tile: tileW, overlap: overlap))
    }

    /// Half-sample symmetric reflection of any integer index into [0, length).
    public static func mirrorIndex(_ i: Int, _ length: Int) -> Int {
        let period = 2 * length
        let m = ((i % period) + period) % period
        return m < length ? m : period - 1 - m
    }

    public static func axisRamp(_ n: Int, ramp: Int, before: Bool, after: Bool) -> [Double] {
        (0..<n).map { i in
            let p = Double(i) + 0.5
            var w = 1.0
            if ramp > 0 && before { w = min(w, p / Double(ramp)) }
            if ramp > 0 && after { w = min(w, (Double(n) - p) / Double(ramp)) }
            return w
        }
    }

    public static func toUInt8(_ v: Double) -> UInt8 { UInt8(floor(min(max(v, 0), 1) * 255 + 0.5)) }

    /// Upscales an H x W x 3 RGB image (row-major bytes) tile by tile. Finished output rows go to `sink`
    /// (first row, rows x (W * scale) x 3 bytes) as soon as no later tile can touch them, so only one strip of
    /// tileH * scale output rows is held in memory.
    public static func upscaleTiled(image: [UInt8], height: Int, width: Int, scale: Int, tileH: Int, tileW: Int,
                                    overlap: Int,
                                    run: TileRunner, progress: ((Int, Int) -> Void)? = nil,
                                    sink: (Int, [UInt8]) -> Void) throws {
        guard image.count == height * width * 3 else {
            throw TilingError.badTiling("image has \(image.count) bytes, expected \(height * width * 3)")
        }
        let grid = try makeGrid(height: height, width: width, tileH: tileH, tileW: tileW, overlap: overlap)
        let pw = grid.paddedWidth, n = tileH * scale, m = tileW * scale, r = overlap * scale
        let outH = height * scale, outW = width * scale, stripW = pw * scale, rowLen = stripW * 3
        var acc = [Double](repeating: 0, count: n * rowLen)
        var wsum = [Double](repeating: 0, count: n * stripW)
        var stripTop = 0, done = 0
        var lr = [Float](repeating: 0, count: 3 * tileH * tileW)

        func flush(_ rows: Int) {
            let count = min(rows, outH - stripTop)
            guard count > 0 else { return }
            var bytes = [UInt8](repeating: 0, count: count * outW * 3)
            for oy in 0..<count {
                for ox in 0..<outW {
                    let w = wsum[oy * stripW + ox]
                    for c in 0..<3 { bytes[(oy * outW + ox) * 3 + c] = toUInt8(acc[oy * rowLen + ox * 3 + c] / w) }
                }
            }
            sink(stripTop, bytes)
        }

        for (iy, y) in grid.ys.enumerated() {
            let shift = y * scale - stripTop
            if shift > 0 {
                flush(shift)
                acc = Array(acc[(shift * rowLen)...]) + [Double](repeating: 0, count: shift * rowLen)
                wsum = Array(wsum[(shift * stripW)...]) + [Double](repeating: 0, count: shift * stripW)
                stripTop = y * scale
            }
            let wy = axisRamp(n, ramp: r, before: iy > 0, after: iy < grid.ys.count - 1)
            for (ix, x) in grid.xs.enumerated() {
                for c in 0..<3 {
                    for ty in 0..<tileH {
                        let sy = mirrorIndex(y + ty, height)
                        for tx in 0..<tileW {
                            let sx = mirrorIndex(x + tx, width)
                            lr[(c * tileH + ty) * tileW + tx] = Float(image[(sy * width + sx) * 3 + c]) / 255
                        }
                    }
                }
                let sr = try run(lr)
                guard sr.count == 3 * n * m else {
                    throw TilingError.badModelOutput("the model returned \(sr.count) values for a tile, expected \(3 * n * m)")
                }
                let wx = axisRamp(m, ramp: r, before: ix > 0, after: ix < grid.xs.count - 1)
                for oy in 0..<n {
                    for ox in 0..<m {
                        let w = wy[oy] * wx[ox]
                        let col = x * scale + ox
                        for c in 0..<3 { acc[oy * rowLen + col * 3 + c] += Double(sr[(c * n + oy) * m + ox]) * w }
                        wsum[oy * stripW + col] += w
                    }
                }
                done += 1
                progress?(done, grid.count)
            }
        }
        flush(n)
    }
}
