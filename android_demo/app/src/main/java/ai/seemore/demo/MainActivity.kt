package ai.seemore.demo

import ai.seemore.tiling.Tiling
import android.content.ContentValues
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.ImageDecoder
import android.net.Uri
import android.os.Build
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.provider.MediaStore
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.LinearLayout
import android.widget.ProgressBar
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import java.io.File
import java.util.concurrent.Executors

/**
 * Pick or take a photo, choose a model (ExecuTorch .pte or LiteRT .tflite, each with its card), upscale it tile by
 * tile with the tiling of seemore_edge/tiling.py, compare before/after, save to the gallery.
 */
class MainActivity : AppCompatActivity() {
    companion object {
        /** Input photos above this are downscaled first, so a x4 result stays within 16 MP (64 MB as ARGB). */
        const val MAX_INPUT_PIXELS = 1_000_000
        const val DISPLAY_MAX_SIDE = 2048
        const val THREADS = 4
    }

    private val worker = Executors.newSingleThreadExecutor()
    private val main = Handler(Looper.getMainLooper())
    private lateinit var status: TextView
    private lateinit var progress: ProgressBar
    private lateinit var compare: CompareView
    private lateinit var modelPicker: Spinner
    private lateinit var runButton: Button
    private lateinit var saveButton: Button
    private var models: List<InstalledModel> = emptyList()
    private var modelProblems: List<String> = emptyList()
    private var photo: Bitmap? = null
    private var result: Bitmap? = null

    private val pickPhoto = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        uri?.let { loadPhoto(it) }
    }
    private val takePhoto = registerForActivityResult(ActivityResultContracts.TakePicturePreview()) { bmp ->
        bmp?.let { setPhoto(it.copy(Bitmap.Config.ARGB_8888, false), "camera preview") }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val root = LinearLayout(this).apply { orientation = LinearLayout.VERTICAL; setPadding(16, 16, 16, 16) }
        val buttons = LinearLayout(this).apply { orientation = LinearLayout.HORIZONTAL }
        fun button(text: String, onClick: () -> Unit) = Button(this).apply { this.text = text; setOnClickListener { onClick() } }
        buttons.addView(button("Pick photo") { pickPhoto.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly)) })
        buttons.addView(button("Take photo") { takePhoto.launch(null) })
        runButton = button("Upscale") { upscale() }.also { buttons.addView(it) }
        saveButton = button("Save") { save() }.also { it.isEnabled = false; buttons.addView(it) }
        modelPicker = Spinner(this)
        status = TextView(this)
        progress = ProgressBar(this, null, android.R.attr.progressBarStyleHorizontal).apply { visibility = View.GONE }
        compare = CompareView(this)
        root.addView(buttons); root.addView(modelPicker); root.addView(progress); root.addView(status)
        root.addView(compare, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f))
        setContentView(root)
        installModels()
    }

    /** Copies assets/models (filled by ./gradlew :app:copyModels) to app storage, where the runtimes can map them. */
    private fun installModels() {
        val dir = File(filesDir, "models").apply { mkdirs() }
        val names = assets.list("models")?.toList() ?: emptyList()
        val found = mutableListOf<InstalledModel>()
        val problems = mutableListOf<String>()
        for (name in names.filter { it.endsWith(".pte") || it.endsWith(".tflite") }) {
            try {
                val target = File(dir, name)
                assets.open("models/$name").use { input -> target.outputStream().use { input.copyTo(it) } }
                val cardName = "$name.json"
                if (cardName !in names) throw ModelError("$name has no card $cardName beside it")
                val card = ModelCard.parse(assets.open("models/$cardName").bufferedReader().readText())
                found += InstalledModel(target, card)
            } catch (e: Exception) {
                problems += "${name}: ${e.message}"
            }
        }
        models = found
        modelProblems = problems
        modelPicker.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item,
            found.map { "${it.card.label} · ${it.card.psnrSummary}" })
        modelPicker.onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(p: AdapterView<*>?, v: View?, pos: Int, id: Long) { describeModel() }
            override fun onNothingSelected(p: AdapterView<*>?) {}
        }
        if (found.isEmpty()) {
            runButton.isEnabled = false
            status.text = "No model present. Export one (python -m seemore_edge.export ...), then run " +
                "./gradlew :app:copyModels and reinstall the app." +
                if (problems.isNotEmpty()) "\n" + problems.joinToString("\n") else ""
        } else describeModel()
    }

    private fun describeModel() {
        val m = models.getOrNull(modelPicker.selectedItemPosition) ?: return
        status.text = "${m.card.label}: tile ${m.card.tileText}, overlap ${m.card.overlap}" +
            (if (modelProblems.isNotEmpty()) "\nskipped: " + modelProblems.joinToString("; ") else "")
    }

    private fun loadPhoto(uri: Uri) {
        try {
            val bmp = if (Build.VERSION.SDK_INT >= 28) {
                ImageDecoder.decodeBitmap(ImageDecoder.createSource(contentResolver, uri)) { d, info, _ ->
                    d.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
                    val px = info.size.width.toLong() * info.size.height
                    if (px > MAX_INPUT_PIXELS) {
                        val f = Math.sqrt(MAX_INPUT_PIXELS.toDouble() / px)
                        d.setTargetSize((info.size.width * f).toInt().coerceAtLeast(1), (info.size.height * f).toInt().coerceAtLeast(1))
                    }
                }
            } else {
                val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
                contentResolver.openInputStream(uri).use { BitmapFactory.decodeStream(it, null, bounds) }
                var sample = 1
                while (bounds.outWidth.toLong() * bounds.outHeight / (sample * sample) > MAX_INPUT_PIXELS) sample *= 2
                contentResolver.openInputStream(uri).use {
                    BitmapFactory.decodeStream(it, null, BitmapFactory.Options().apply { inSampleSize = sample })
                } ?: throw IllegalArgumentException("not a decodable image")
            }
            setPhoto(bmp.copy(Bitmap.Config.ARGB_8888, false), uri.lastPathSegment ?: "photo")
        } catch (e: Exception) {
            status.text = "Could not open that photo: ${e.message}"
        }
    }

    private fun setPhoto(bmp: Bitmap, name: String) {
        photo = bmp
        result = null
        saveButton.isEnabled = false
        compare.show(displayCopy(bmp), null)
        status.text = "$name: ${bmp.width} x ${bmp.height}" +
            if (bmp.width.toLong() * bmp.height >= MAX_INPUT_PIXELS * 0.99) " (downscaled to stay within memory)" else ""
    }

    private fun upscale() {
        val input = photo ?: run { status.text = "Pick or take a photo first."; return }
        val model = models.getOrNull(modelPicker.selectedItemPosition) ?: return
        val card = model.card
        if (input.width < 16 || input.height < 16) {
            status.text = "The photo is ${input.width} x ${input.height}; the model needs at least 16 x 16 pixels."
            return
        }
        runButton.isEnabled = false
        progress.visibility = View.VISIBLE
        worker.execute {
            try {
                model.verify()
                val w = input.width
                val h = input.height
                val rgb = ByteArray(w * h * 3)
                val row = IntArray(w)
                for (y in 0 until h) {
                    input.getPixels(row, 0, w, 0, y, w, 1)
                    for (x in 0 until w) {
                        val p = row[x]
                        rgb[(y * w + x) * 3] = (p shr 16).toByte(); rgb[(y * w + x) * 3 + 1] = (p shr 8).toByte()
                        rgb[(y * w + x) * 3 + 2] = p.toByte()
                    }
                }
                val out = Bitmap.createBitmap(w * card.scale, h * card.scale, Bitmap.Config.ARGB_8888)
                val tileTimes = ArrayList<Double>()
                val start = System.nanoTime()
                openRunner(model, THREADS).use { runner ->
                    val ranged = card.inRange { runner.run(it) }
                    val timed: (FloatArray) -> FloatArray = { t ->
                        val t0 = System.nanoTime(); val r = ranged(t); tileTimes += (System.nanoTime() - t0) / 1e6; r
                    }
                    Tiling.upscaleTiled(timed, rgb, h, w, card.scale, card.tileH, card.tileW, card.overlap,
                        progress = { done, total -> main.post { progress.max = total; progress.progress = done } }) { top, rows ->
                        // Finished rows go straight into the result bitmap; no second full-size buffer is kept.
                        val ow = w * card.scale
                        val n = rows.size / (ow * 3)
                        val px = IntArray(ow)
                        for (r in 0 until n) {
                            for (x in 0 until ow) {
                                val i = (r * ow + x) * 3
                                px[x] = (0xFF shl 24) or ((rows[i].toInt() and 0xFF) shl 16) or
                                    ((rows[i + 1].toInt() and 0xFF) shl 8) or (rows[i + 2].toInt() and 0xFF)
                            }
                            out.setPixels(px, 0, ow, 0, top + r, ow, 1)
                        }
                    }
                    val total = (System.nanoTime() - start) / 1e6
                    val median = tileTimes.sorted()[tileTimes.size / 2]
                    val before = displayCopy(Bitmap.createScaledBitmap(input, out.width, out.height, true))
                    val after = displayCopy(out)
                    main.post {
                        result = out
                        compare.show(before, after)
                        saveButton.isEnabled = true
                        status.text = "${runner.name}, ${card.precision.uppercase()}: ${tileTimes.size} tiles of " +
                            "${card.tileText} px, %.1f ms per tile (median), %.0f ms in all → ${out.width} x ${out.height}".format(median, total)
                    }
                }
            } catch (e: Throwable) {
                main.post { status.text = "Upscaling failed: ${e.message ?: e.javaClass.simpleName}" }
            } finally {
                main.post { runButton.isEnabled = true; progress.visibility = View.GONE }
            }
        }
    }

    /** A copy small enough to draw; the full-resolution bitmap is only used for saving. */
    private fun displayCopy(bmp: Bitmap): Bitmap {
        val side = maxOf(bmp.width, bmp.height)
        if (side <= DISPLAY_MAX_SIDE) return bmp
        val f = DISPLAY_MAX_SIDE.toFloat() / side
        return Bitmap.createScaledBitmap(bmp, (bmp.width * f).toInt(), (bmp.height * f).toInt(), true)
    }

    private fun save() {
        val bmp = result ?: return
        worker.execute {
            try {
                val values = ContentValues().apply {
                    put(MediaStore.Images.Media.DISPLAY_NAME, "seemore_${System.currentTimeMillis()}.png")
                    put(MediaStore.Images.Media.MIME_TYPE, "image/png")
                    if (Build.VERSION.SDK_INT >= 29) put(MediaStore.Images.Media.RELATIVE_PATH, "Pictures/SeemoRe")
                }
                val uri = contentResolver.insert(MediaStore.Images.Media.EXTERNAL_CONTENT_URI, values)
                    ?: throw IllegalStateException("the gallery refused a new image")
                contentResolver.openOutputStream(uri).use { s ->
                    if (s == null || !bmp.compress(Bitmap.CompressFormat.PNG, 100, s)) throw IllegalStateException("writing the PNG failed")
                }
                main.post { status.text = "Saved to Pictures/SeemoRe." }
            } catch (e: Exception) {
                main.post { status.text = "Saving failed: ${e.message}" }
            }
        }
    }

    override fun onDestroy() {
        worker.shutdown()
        super.onDestroy()
    }
}
