package ai.seemore.tiling

import java.io.File
import kotlin.system.exitProcess

/**
 * Holds the Kotlin tiler to tests/golden/tiling.json, written by the Python reference (tests/golden/make_tiling.py).
 * A plain main() rather than JUnit so that CI can build and run it with kotlinc alone (no Gradle, no Maven access):
 * `android_demo/tiling/run_golden_tests.sh`. Exit status 0 when every case matches.
 */
fun main(args: Array<String>) {
    val path = args.firstOrNull() ?: "tests/golden/tiling.json"
    @Suppress("UNCHECKED_CAST")
    val root = Json(File(path).readText()).parse() as Map<String, Any?>
    @Suppress("UNCHECKED_CAST")
    val cases = root["cases"] as List<Map<String, Any?>>
    var failures = 0
    for (case in cases) {
        val name = case["name"] as String
        val h = case.int("height"); val w = case.int("width"); val (tileH, tileW) = case.ints("tile")
        val overlap = case.int("overlap"); val scale = case.int("scale")
        val problems = mutableListOf<String>()
        val grid = Tiling.makeGrid(h, w, tileH, tileW, overlap)
        if (grid.ys.toList() != case.ints("ys")) problems += "ys ${grid.ys.toList()} != ${case.ints("ys")}"
        if (grid.xs.toList() != case.ints("xs")) problems += "xs ${grid.xs.toList()} != ${case.ints("xs")}"
        if (listOf(grid.paddedHeight, grid.paddedWidth) != case.ints("padded")) problems += "padded size differs"
        val image = ByteArray(h * w * 3)
        for (y in 0 until h) for (x in 0 until w) for (c in 0 until 3) {
            image[(y * w + x) * 3 + c] = ((37 * x + 91 * y + 53 * c + x * y) % 256).toByte()
        }
        val out = Tiling.upscaleTiled(probeModel(scale, tileH, tileW), image, h, w, scale, tileH, tileW, overlap)
        val want = case.ints("output")
        if (out.size != want.size) {
            problems += "output has ${out.size} values, expected ${want.size}"
        } else {
            var worst = 0
            for (i in out.indices) worst = maxOf(worst, Math.abs((out[i].toInt() and 0xFF) - want[i]))
            if (worst > 1) problems += "output differs by up to $worst levels (1 allowed for float rounding)"
        }
        if (problems.isEmpty()) println("ok   $name") else { failures += 1; println("FAIL $name: ${problems.joinToString("; ")}") }
    }
    // The bad inputs the app relies on being refused.
    try { Tiling.makeGrid(10, 10, 16, 16, 16); println("FAIL overlap >= tile accepted"); failures += 1 }
    catch (e: IllegalArgumentException) { println("ok   overlap >= tile refused") }
    println(if (failures == 0) "all ${cases.size} golden cases pass" else "$failures failure(s)")
    exitProcess(if (failures == 0) 0 else 1)
}

/** The stand-in model of the golden file: nearest-neighbour upscaling plus 0.25 x the tile's mean. */
fun probeModel(scale: Int, tileH: Int, tileW: Int): TileRunner = { lr ->
    var sum = 0.0
    for (v in lr) sum += v
    val mean = (sum / lr.size).toFloat()
    val n = tileH * scale
    val m = tileW * scale
    FloatArray(3 * n * m) { i ->
        val c = i / (n * m); val oy = (i / m) % n; val ox = i % m
        lr[(c * tileH + oy / scale) * tileW + ox / scale] + 0.25f * mean
    }
}

private fun Map<String, Any?>.int(key: String) = (this[key] as Number).toInt()
@Suppress("UNCHECKED_CAST")
private fun Map<String, Any?>.ints(key: String) = (this[key] as List<Number>).map { it.toInt() }

/** A small JSON reader (objects, arrays, strings, numbers, booleans, null): enough for the golden file. */
class Json(private val s: String) {
    private var i = 0
    fun parse(): Any? { val v = value(); ws(); require(i == s.length) { "trailing data at $i" }; return v }
    private fun ws() { while (i < s.length && s[i].isWhitespace()) i++ }
    private fun value(): Any? {
        ws()
        return when (s[i]) {
            '{' -> obj()
            '[' -> arr()
            '"' -> str()
            't' -> { i += 4; true }
            'f' -> { i += 5; false }
            'n' -> { i += 4; null }
            else -> num()
        }
    }
    private fun obj(): Map<String, Any?> {
        val m = LinkedHashMap<String, Any?>(); i++; ws()
        if (s[i] == '}') { i++; return m }
        while (true) {
            ws(); val k = str(); ws(); require(s[i] == ':') { "expected : at $i" }; i++
            m[k] = value(); ws()
            if (s[i] == ',') { i++; continue }
            require(s[i] == '}') { "expected } at $i" }; i++; return m
        }
    }
    private fun arr(): List<Any?> {
        val a = ArrayList<Any?>(); i++; ws()
        if (s[i] == ']') { i++; return a }
        while (true) {
            a.add(value()); ws()
            if (s[i] == ',') { i++; continue }
            require(s[i] == ']') { "expected ] at $i" }; i++; return a
        }
    }
    private fun str(): String {
        val sb = StringBuilder(); i++
        while (s[i] != '"') {
            if (s[i] == '\\') {
                i++
                when (s[i]) {
                    'n' -> sb.append('\n'); 't' -> sb.append('\t'); 'r' -> sb.append('\r')
                    'b' -> sb.append('\b'); 'f' -> sb.append('\u000C')
                    'u' -> { sb.append(s.substring(i + 1, i + 5).toInt(16).toChar()); i += 4 }
                    else -> sb.append(s[i])
                }
            } else sb.append(s[i])
            i++
        }
        i++
        return sb.toString()
    }
    private fun num(): Number {
        val start = i
        while (i < s.length && (s[i].isDigit() || s[i] in "+-.eE")) i++
        val t = s.substring(start, i)
        return if (t.any { it in ".eE" }) t.toDouble() else t.toLong()
    }
}
