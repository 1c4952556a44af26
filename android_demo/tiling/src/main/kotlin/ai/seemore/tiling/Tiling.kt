package ai.seemore.tiling

/**
 * The tiling specification of seemore_edge/tiling.py, ported line for line so the app stitches exactly as the
 * Python reference does (tests/golden/tiling.json holds both to it):
 * 1. an axis shorter than the tile is mirrored (half-sample symmetric) up to the tile;
 * 2. tiles start every (tile - overlap) pixels, the last one moved back to end at the edge;
 * 3. overlapping outputs are blended with linear ramps of overlap * scale pixels;
 * 4. the result is cropped and rounded to 8 bits as floor(255 v + 0.5) after clamping to [0, 1].
 * Plain Kotlin/JVM: no Android dependency, so it is unit-tested off the phone.
 */
class Grid(val height: Int, val width: Int, val tile: Int, val overlap: Int, val ys: IntArray, val xs: IntArray) {
    val paddedHeight: Int get() = maxOf(height, tile)
    val paddedWidth: Int get() = maxOf(width, tile)
    val size: Int get() = ys.size * xs.size
}

/** One LR tile in, its SR tile out: float32 NCHW (1 x 3 x T x T, values in [0, 1]) -> 1 x 3 x sT x sT. */
typealias TileRunner = (FloatArray) -> FloatArray

object Tiling {
    fun axisStarts(length: Int, tile: Int, overlap: Int): IntArray {
        val len = maxOf(length, tile)
        val stride = tile - overlap
        val n = Math.ceil((len - tile).toDouble() / stride).toInt() + 1
        return IntArray(n) { minOf(it * stride, len - tile) }
    }

    fun makeGrid(height: Int, width: Int, tile: Int, overlap: Int): Grid {
        require(tile >= 1 && overlap >= 0 && overlap < tile) {
            "need tile >= 1 and 0 <= overlap < tile, got tile $tile, overlap $overlap"
        }
        return Grid(height, width, tile, overlap, axisStarts(height, tile, overlap), axisStarts(width, tile, overlap))
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
     * needs only one strip of tile * scale output rows in memory.
     */
    fun upscaleTiled(run: TileRunner, image: ByteArray, height: Int, width: Int, scale: Int, tile: Int,
                     overlap: Int, progress: ((Int, Int) -> Unit)? = null,
                     sink: (Int, ByteArray) -> Unit) {
        require(image.size == height * width * 3) { "image has ${image.size} bytes, expected ${height * width * 3}" }
        val grid = makeGrid(height, width, tile, overlap)
        val pw = grid.paddedWidth
        val n = tile * scale
        val r = overlap * scale
        val outW = width * scale
        val outH = height * scale
        val rowLen = pw * scale * 3
        var acc = DoubleArray(n * rowLen)
        var wsum = DoubleArray(n * pw * scale)
        var stripTop = 0
        val lr = FloatArray(3 * tile * tile)
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
                for (c in 0 until 3) for (ty in 0 until tile) for (tx in 0 until tile) {
                    val sy = mirrorIndex(y + ty, height)
                    val sx = mirrorIndex(x + tx, width)
                    val v = image[(sy * width + sx) * 3 + c].toInt() and 0xFF
                    lr[(c * tile + ty) * tile + tx] = v.toFloat() / 255.0f
                }
                val sr = run(lr)
                require(sr.size == 3 * n * n) { "the model returned ${sr.size} values for a tile, expected ${3 * n * n}" }
                val wx = axisRamp(n, r, ix > 0, ix < grid.xs.size - 1)
                for (oy in 0 until n) for (ox in 0 until n) {
                    val w = wy[oy] * wx[ox]
                    val col = x * scale + ox
                    for (c in 0 until 3) acc[oy * rowLen + col * 3 + c] += sr[(c * n + oy) * n + ox].toDouble() * w
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
    fun upscaleTiled(run: TileRunner, image: ByteArray, height: Int, width: Int, scale: Int, tile: Int,
                     overlap: Int): ByteArray {
        val out = ByteArray(height * scale * width * scale * 3)
        upscaleTiled(run, image, height, width, scale, tile, overlap, null) { top, rows ->
            System.arraycopy(rows, 0, out, top * width * scale * 3, rows.size)
        }
        return out
    }
}
