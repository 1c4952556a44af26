package ai.seemore.demo

import android.content.Context
import android.graphics.Bitmap
import android.graphics.Canvas
import android.graphics.Paint
import android.graphics.RectF
import android.util.AttributeSet
import android.view.MotionEvent
import android.view.ScaleGestureDetector
import android.view.View

/**
 * Before/after slider with pinch zoom and pan. "Before" is the input drawn at the output's size (the phone's own
 * bilinear scaling), "after" the upscaled result; the divider is dragged with one finger near it, anything else pans.
 * Bitmaps given here are display copies (see MainActivity.displayCopy), never the full-resolution result.
 */
class CompareView @JvmOverloads constructor(context: Context, attrs: AttributeSet? = null) : View(context, attrs) {
    private var before: Bitmap? = null
    private var after: Bitmap? = null
    private var split = 0.5f
    private var zoom = 1f
    private var panX = 0f
    private var panY = 0f
    private var draggingSplit = false
    private val paint = Paint(Paint.FILTER_BITMAP_FLAG)
    private val line = Paint().apply { color = 0xFFFFFFFF.toInt(); strokeWidth = 4f }
    private val scaler = ScaleGestureDetector(context, object : ScaleGestureDetector.SimpleOnScaleGestureListener() {
        override fun onScale(d: ScaleGestureDetector): Boolean {
            zoom = (zoom * d.scaleFactor).coerceIn(1f, 16f); invalidate(); return true
        }
    })
    private var lastX = 0f
    private var lastY = 0f

    fun show(before: Bitmap?, after: Bitmap?) {
        this.before = before; this.after = after; zoom = 1f; panX = 0f; panY = 0f; split = 0.5f; invalidate()
    }

    private fun imageRect(bmp: Bitmap): RectF {
        val fit = minOf(width.toFloat() / bmp.width, height.toFloat() / bmp.height) * zoom
        val w = bmp.width * fit
        val h = bmp.height * fit
        val left = (width - w) / 2 + panX
        val top = (height - h) / 2 + panY
        return RectF(left, top, left + w, top + h)
    }

    override fun onDraw(canvas: Canvas) {
        val ref = after ?: before ?: return
        val rect = imageRect(ref)
        val splitX = width * split
        before?.let {
            canvas.save(); canvas.clipRect(0f, 0f, if (after != null) splitX else width.toFloat(), height.toFloat())
            canvas.drawBitmap(it, null, rect, paint); canvas.restore()
        }
        after?.let {
            canvas.save(); canvas.clipRect(splitX, 0f, width.toFloat(), height.toFloat())
            canvas.drawBitmap(it, null, rect, paint); canvas.restore()
            canvas.drawLine(splitX, 0f, splitX, height.toFloat(), line)
        }
    }

    override fun onTouchEvent(e: MotionEvent): Boolean {
        scaler.onTouchEvent(e)
        when (e.actionMasked) {
            MotionEvent.ACTION_DOWN -> {
                draggingSplit = after != null && Math.abs(e.x - width * split) < 48 * resources.displayMetrics.density
                lastX = e.x; lastY = e.y
            }
            MotionEvent.ACTION_MOVE -> if (!scaler.isInProgress) {
                if (draggingSplit) split = (e.x / width).coerceIn(0f, 1f)
                else { panX += e.x - lastX; panY += e.y - lastY }
                lastX = e.x; lastY = e.y
                invalidate()
            }
        }
        return true
    }
}
