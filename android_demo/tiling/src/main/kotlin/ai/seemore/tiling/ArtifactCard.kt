package ai.seemore.tiling

/**
 * The card the export step writes beside every artifact (<file>.json), schema 1 of seemore_edge/core/records.py
 * (ArtifactCard). The app takes tile, overlap, scale, layouts and value ranges from it instead of hard-coding them.
 * A plain-JVM class, so CI parses tests/golden/artifact_card.json with it (GoldenTest.kt) as Python validates it.
 */
data class ArtifactCard(
    val schema: Int,
    val file: String,
    val format: String,          // "pte", "tflite" or "mlpackage"
    val precision: String,       // "int8", "fp32", "fp16"
    val scale: Int,
    val tileH: Int,              // LR tile height and width ("tile": [h, w])
    val tileW: Int,
    val overlap: Int,
    val sha256: String,
    val parentName: String,      // the shipped model it was exported from
    val executedBy: String?,     // the runtime that measured psnr and latency; null when none ran it
    val outputInt8: Boolean,     // LiteRT INT8 models may return int8 with a scale and zero point
    val outputScale: Float,
    val outputZeroPoint: Int,
    val inputRange: FloatArray,  // what pixel 0 and 255 map to on the way in
    val outputRange: FloatArray, // what maps to 0 and 255 on the way out (the tiler clamps to it)
    val psnrSummary: String
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
    val label: String get() = "${format.toUpperCase()} ${precision.toUpperCase()} x$scale (tile $tileText)"

    companion object {
        const val SCHEMA = 1

        /** Parses a card; a card this reader does not understand throws IllegalArgumentException with one line. */
        @Suppress("UNCHECKED_CAST")
        fun parse(text: String): ArtifactCard {
            val j = Json(text).parse() as? Map<String, Any?> ?: throw IllegalArgumentException("a card is a JSON object")
            val schema = (j["schema"] as? Number)?.toInt()
            require(schema == SCHEMA) { "card schema ${schema ?: "missing"}: this app reads schema $SCHEMA (re-export the model)" }
            val input = j.obj("input")
            require(input["layout"] == "NCHW" && input["dtype"] == "float32") {
                "the card describes an input this app does not feed (${input["layout"]} ${input["dtype"]})"
            }
            val out = j.obj("output")
            val q = out["quantization"] as? Map<String, Any?>
            val psnr = j["psnr"] as? Map<String, Any?>
            val summary = psnr?.entries?.joinToString(", ") { (set, score) ->
                "$set %.2f dB".format(java.util.Locale.ROOT, ((score as Map<String, Any?>)["psnr"] as Number).toDouble())
            } ?: "not measured"
            val tile = j["tile"] as? List<Any?>
            require(tile != null && tile.size == 2) { "the card's tile ${j["tile"]} is not [height, width]" }
            return ArtifactCard(
                schema = schema, file = j.str("file"), format = j.str("format"), precision = j.str("precision"),
                scale = j.int("scale"), tileH = (tile[0] as Number).toInt(), tileW = (tile[1] as Number).toInt(),
                overlap = j.int("overlap"), sha256 = j.str("sha256"), parentName = j.obj("parent").str("name"),
                executedBy = j["executed_by"] as? String, outputInt8 = out["dtype"] == "int8",
                outputScale = (q?.get("scale") as? Number)?.toFloat() ?: 1f,
                outputZeroPoint = (q?.get("zero_point") as? Number)?.toInt() ?: 0,
                inputRange = range(input), outputRange = range(out), psnrSummary = summary
            )
        }

        private fun range(io: Map<String, Any?>): FloatArray {
            @Suppress("UNCHECKED_CAST")
            val r = io["range"] as? List<Number> ?: return floatArrayOf(0f, 1f)
            require(r.size == 2 && r[1].toDouble() > r[0].toDouble()) { "the card's value range $r is not [low, high]" }
            return floatArrayOf(r[0].toFloat(), r[1].toFloat())
        }

        @Suppress("UNCHECKED_CAST")
        private fun Map<String, Any?>.obj(key: String) =
            this[key] as? Map<String, Any?> ?: throw IllegalArgumentException("the card has no object '$key'")
        private fun Map<String, Any?>.str(key: String) =
            this[key] as? String ?: throw IllegalArgumentException("the card has no text '$key'")
        private fun Map<String, Any?>.int(key: String) =
            (this[key] as? Number)?.toInt() ?: throw IllegalArgumentException("the card has no number '$key'")
    }
}
