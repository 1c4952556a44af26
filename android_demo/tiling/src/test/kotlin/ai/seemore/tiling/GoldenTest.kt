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
    // The card reader against tests/golden/artifact_card.json, the card Python's records validate too.
    val cardFile = File(File(path).parentFile, "artifact_card.json")
    val card = ArtifactCard.parse(cardFile.readText())
    val cardProblems = mutableListOf<String>()
    if (card.schema != 1 || card.file != "T-x4-qat-int8-180x320.tflite" || card.format != "tflite") cardProblems += "identity"
    if (card.tileH != 180 || card.tileW != 320 || card.overlap != 16 || card.scale != 4) cardProblems += "tiling"
    if (!card.outputInt8 || card.outputZeroPoint != -128 || Math.abs(card.outputScale - 0.00392157f) > 1e-8f) cardProblems += "output quantization"
    if (card.executedBy != "litert" || card.parentName != "T-x4-qat" || card.sha256.length != 64) cardProblems += "provenance"
    if (!card.psnrSummary.startsWith("Set5 31.00 dB")) cardProblems += "psnr summary '${card.psnrSummary}'"
    if (cardProblems.isEmpty()) println("ok   golden artifact card") else { failures += 1; println("FAIL golden artifact card: $cardProblems") }
    for ((broken, words) in listOf(
        cardFile.readText().replace("\"schema\": 1", "\"schema\": 2") to "schema 2",
        cardFile.readText().replace("\"tile\": [180, 320]", "\"tile\": [180]") to "[height, width]")) {
        try { ArtifactCard.parse(broken); println("FAIL card with $words accepted"); failures += 1 }
        catch (e: IllegalArgumentException) {
            if (words in (e.message ?: "")) println("ok   card with $words refused") else { println("FAIL card refusal said: ${e.message}"); failures += 1 }
        }
    }
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
