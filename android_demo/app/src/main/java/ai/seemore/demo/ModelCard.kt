package ai.seemore.demo

import org.json.JSONObject
import java.io.File
import java.security.MessageDigest

/**
 * The card the export step writes beside every artifact (<file>.json). The app takes tile, overlap, scale, layouts
 * and value ranges from it instead of hard-coding them, and refuses a model file whose sha256 differs from its card.
 */
data class ModelCard(
    val file: String,
    val format: String,          // "pte" or "tflite"
    val precision: String,       // "int8", "fp32"
    val scale: Int,
    val tileH: Int,              // LR tile height and width ("tile": [h, w]; older cards hold one side)
    val tileW: Int,
    val overlap: Int,
    val sha256: String,
    val outputInt8: Boolean,     // LiteRT INT8 models return int8 with a scale and zero point
    val outputScale: Float,
    val outputZeroPoint: Int,
    val inputRange: FloatArray,  // what pixel 0 and 255 map to on the way in
    val outputRange: FloatArray, // what maps to 0 and 255 on the way out (the tiler clamps to it)
    val psnrSummary: String,
) {
    /** The card's value ranges applied around a runner, so the tiler always works in [0, 1]. */
    fun inRange(runner: (FloatArray) -> FloatArray): (FloatArray) -> FloatArray {
        val (ilo, ihi) = inputRange[0] to inputRange[1]
        val (olo, ohi) = outputRange[0] to outputRange[1]
        if (ilo == 0f && ihi == 1f && olo == 0f && ohi == 1f) return runner
        return { tile ->
            val y = runner(FloatArray(tile.size) { ilo + tile[it] * (ihi - ilo) })
            FloatArray(y.size) { (y[it] - olo) / (ohi - olo) }
        }
    }

    val tileText: String get() = "${tileH}x$tileW"
    val label: String get() = "${format.uppercase()} ${precision.uppercase()} x$scale (tile $tileText)"

    companion object {
        fun parse(text: String): ModelCard {
            val j = JSONObject(text)
            val input = j.getJSONObject("input")
            require(input.getString("layout") == "NCHW" && input.getString("dtype") == "float32") {
                "the card describes an input this app does not feed (${input.getString("layout")} ${input.getString("dtype")})"
            }
            val out = j.getJSONObject("output")
            val q = out.optJSONObject("quantization")
            val psnr = j.optJSONObject("psnr")
            val summary = psnr?.keys()?.asSequence()?.joinToString(", ") { set ->
                "$set %.2f dB".format(psnr.getJSONObject(set).getDouble("psnr"))
            } ?: "not measured"
            val tile = j.optJSONArray("tile")
            val (tileH, tileW) = if (tile != null) {
                require(tile.length() == 2) { "the card's tile $tile is not [height, width]" }
                tile.getInt(0) to tile.getInt(1)
            } else j.getInt("tile") to j.getInt("tile")
            return ModelCard(
                file = j.getString("file"), format = j.getString("format"), precision = j.getString("precision"),
                scale = j.getInt("scale"), tileH = tileH, tileW = tileW, overlap = j.getInt("overlap"),
                sha256 = j.getString("sha256"), outputInt8 = out.getString("dtype") == "int8",
                outputScale = q?.getDouble("scale")?.toFloat() ?: 1f, outputZeroPoint = q?.getInt("zero_point") ?: 0,
                inputRange = range(input), outputRange = range(out),
                psnrSummary = summary,
            )
        }

        private fun range(io: JSONObject): FloatArray {
            val r = io.optJSONArray("range") ?: return floatArrayOf(0f, 1f)
            require(r.length() == 2 && r.getDouble(1) > r.getDouble(0)) { "the card's value range $r is not [low, high]" }
            return floatArrayOf(r.getDouble(0).toFloat(), r.getDouble(1).toFloat())
        }

        fun sha256(file: File): String {
            val md = MessageDigest.getInstance("SHA-256")
            file.inputStream().use { s ->
                val buf = ByteArray(1 shl 16)
                while (true) { val n = s.read(buf); if (n < 0) break; md.update(buf, 0, n) }
            }
            return md.digest().joinToString("") { "%02x".format(it) }
        }
    }
}

/** A model file and its card, checked against each other before anything runs. */
class InstalledModel(val file: File, val card: ModelCard) {
    fun verify() {
        if (card.file != file.name) throw ModelError("card ${card.file}.json does not belong to ${file.name}")
        val actual = ModelCard.sha256(file)
        if (actual != card.sha256) {
            throw ModelError("${file.name} does not match its card (sha256 ${actual.take(12)}… vs ${card.sha256.take(12)}…): copy both from the same export")
        }
    }
}

class ModelError(message: String) : Exception(message)
