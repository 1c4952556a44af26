package ai.seemore.tiling

/**
 * The tiling specification of seemore_edge/tiling.py, ported line for line so the app stitches exactly as the
 * Python reference does (tests/golden/tiling.json holds both to it):
 * 1. an axis shorter than the tile's extent along it is mirrored (half-sample symmetric) up to that extent;
 * 2. along each axis tiles start every (extent - overlap) pixels, the last one moved back to end at the edge;
 * 3. overlapping outputs are blended with linear ramps of overlap * scale pixels;
 * 4. the result is cropped and rounded to 8 bits as floor(255 v + 0.5) after clamping to [0, 1].
 * Tiles are tileH x tileW LR pixels (a card's "tile": [height, width]); a 180 x 320 tile takes a 720p frame at x4 in
 * one call. Plain Kotlin/JVM: no Android dependency, so it is unit-tested off the phone.
 */
class Grid(val height: Int, val width: Int, val tileH: Int, val tileW: Int, val overlap: Int, val ys: IntArray,
           val xs: IntArray) {
    val paddedHeight: Int get() = maxOf(height, tileH)
    val paddedWidth: Int get() = maxOf(width, tileW)
    val size: Int get() = ys.size * xs.size
}

/** One LR tile in, its SR tile out: float32 NCHW (1 x 3 x Th x Tw, values in [0, 1]) -> 1 x 3 x sTh x sTw. */
typealias TileRunner = (FloatArray) -> FloatArray

object Tiling {
    fun axisStarts(length: Int, tile: Int, overlap: Int): IntArray {
        val len = maxOf(length, tile)
        val stride = tile - overlap
        val n = Math.ceil((len - tile).toDouble() / stride).toInt() + 1
        return IntArray(n) { minOf(it * stride, len - tile) }
    }

    fun makeGrid(height: Int, width: Int, tileH: Int, tileW: Int, overlap: Int): Grid {
        require(minOf(tileH, tileW) >= 1 && overlap >= 0 && overlap < minOf(tileH, tileW)) {
            "need tile sides >= 1 and 0 <= overlap < each, got tile ${tileH}x$tileW, overlap $overlap"
        }
        return Grid(height, width, tileH, tileW, overlap, axisStarts(height, tileH, overlap),
                    axisStarts(width, tileW, overlap))
    }

    /** Half-sample symmetric reflection of any integer index into [0, length). */
    fun mirrorIndex(i: Int, length: Int): Int {
        val period = 2 * length
        val m = ((i % period) + period) % period
        return if (m < length) m else period - 1 - m
    }

    fun axisRamp(n: Int, ramp: Int, before: Boolean, after: Boolean): DoubleArray = DoubleArray(n) { i ->
        val p = i + 0.5
        var w = 1.0
        if (ramp > 0 && before) w = minOf(w, p / ramp)
        if (ramp > 0 && after) w = minOf(w, (n - p) / ramp)
        w
    }

    fun toUint8(v: Double): Int = Math.floor(minOf(maxOf(v, 0.0), 1.0) * 255.0 + 0.5).toInt()

    /**
     * Upscales an H x W x 3 RGB image (row-major bytes, 0..255) tile by tile. Finished output rows are handed to
     * [sink] (first row index, rows x (W * scale) x 3 bytes) as soon as no later tile can touch them, so a large photo
     * needs only one strip of tileH * scale output rows in memory.
     */
    fun upscaleTiled(run: TileRunner, image: ByteArray, height: Int, width: Int, scale: Int, tileH: Int, tileW: Int,
                     overlap: Int, progress: ((Int, Int) -> Unit)? = null,
                     sink: (Int, ByteArray) -> Unit) {
        require(image.size == height * width * 3) { "image has ${image.size} bytes, expected ${height * width * 3}" }
        val grid = makeGrid(height, width, tileH, tileW, overlap)
        val pw = grid.paddedWidth
        val n = tileH * scale
        val m = tileW * scale
        val r = overlap * scale
        val outW = width * scale
        val outH = height * scale
        val rowLen = pw * scale * 3
        var acc = DoubleArray(n * rowLen)
        var wsum = DoubleArray(n * pw * scale)
        var stripTop = 0
        val lr = FloatArray(3 * tileH * tileW)
        var done = 0
        for ((iy, y) in grid.ys.withIndex()) {
            val shift = y * scale - stripTop
            if (shift > 0) {
                flush(acc, wsum, shift, stripTop, outH, outW, pw * scale, sink)
                acc = acc.copyOfRange(shift * rowLen, acc.size).copyOf(acc.size)
                wsum = wsum.copyOfRange(shift * pw * scale, wsum.size).copyOf(wsum.size)
                stripTop = y * scale
            }
            val wy = axisRamp(n, r, iy > 0, iy < grid.ys.size - 1)
            for ((ix, x) in grid.xs.withIndex()) {
                for (c in 0 until 3) for (ty in 0 until tileH) for (tx in 0 until tileW) {
                    val sy = mirrorIndex(y + ty, height)
                    val sx = mirrorIndex(x + tx, width)
                    val v = image[(sy * width + sx) * 3 + c].toInt() and 0xFF
                    lr[(c * tileH + ty) * tileW + tx] = v.toFloat() / 255.0f
                }
                val sr = run(lr)
                require(sr.size == 3 * n * m) { "the model returned ${sr.size} values for a tile, expected ${3 * n * m}" }
                val wx = axisRamp(m, r, ix > 0, ix < grid.xs.size - 1)
                for (oy in 0 until n) for (ox in 0 until m) {
                    val w = wy[oy] * wx[ox]
                    val col = x * scale + ox
                    for (c in 0 until 3) acc[oy * rowLen + col * 3 + c] += sr[(c * n + oy) * m + ox].toDouble() * w
                    wsum[oy * pw * scale + col] += w
                }
                done += 1
                progress?.invoke(done, grid.size)
            }
        }
        flush(acc, wsum, n, stripTop, outH, outW, pw * scale, sink)
    }

    private fun flush(acc: DoubleArray, wsum: DoubleArray, rows: Int, top: Int, outH: Int, outW: Int, stripW: Int,
                      sink: (Int, ByteArray) -> Unit) {
        val count = minOf(rows, outH - top)
        if (count <= 0) return
        val bytes = ByteArray(count * outW * 3)
        for (oy in 0 until count) for (ox in 0 until outW) {
            val w = wsum[oy * stripW + ox]
            for (c in 0 until 3) {
                bytes[(oy * outW + ox) * 3 + c] = toUint8(acc[oy * stripW * 3 + ox * 3 + c] / w).toByte()
            }
        }
        sink(top, bytes)
    }

    /** The whole result in one array, for images small enough to hold. */
    fun upscaleTiled(run: TileRunner, image: ByteArray, height: Int, width: Int, scale: Int, tileH: Int, tileW: Int,
                     overlap: Int): ByteArray {
        val out = ByteArray(height * scale * width * scale * 3)
        upscaleTiled(run, image, height, width, scale, tileH, tileW, overlap, null) { top, rows ->
            System.arraycopy(rows, 0, out, top * width * scale * 3, rows.size)
        }
        return out
    }
}
