package ai.seemore.demo

import ai.seemore.tiling.TileRunner
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** One runtime behind the tiler's TileRunner: float32 NCHW tile in, float32 NCHW SR tile out. */
interface SrRunner : Closeable {
    val name: String
    fun run(tile: FloatArray): FloatArray
    fun asTileRunner(): TileRunner = { run(it) }
}

fun openRunner(model: InstalledModel, threads: Int): SrRunner = when (model.card.format) {
    "pte" -> ExecuTorchRunner(model, threads)
    "tflite" -> LiteRtRunner(model, threads)
    else -> throw ModelError("format ${model.card.format} is not run by this app (Core ML is the iOS app's)")
}

/** ExecuTorch with the XNNPACK delegate compiled into the .pte. */
class ExecuTorchRunner(model: InstalledModel, threads: Int) : SrRunner {
    override val name = "ExecuTorch (XNNPACK)"
    private val card = model.card
    private val shape = longArrayOf(1, 3, card.tileH.toLong(), card.tileW.toLong())
    private val module: Module = try {
        Module.load(model.file.absolutePath)
    } catch (e: Exception) {
        throw ModelError("ExecuTorch could not load ${model.file.name}: ${e.message} (was it exported by a runtime-compatible ExecuTorch?)")
    }

    override fun run(tile: FloatArray): FloatArray {
        val out = module.forward(EValue.from(Tensor.fromBlob(tile, shape)))
        return out[0].toTensor().dataAsFloatArray
    }

    override fun close() = module.destroy()
}

/** LiteRT's interpreter with its default XNNPACK delegate; an INT8 output is dequantized with the card's numbers. */
class LiteRtRunner(model: InstalledModel, threads: Int) : SrRunner {
    override val name = "LiteRT (XNNPACK)"
    private val card = model.card
    private val interpreter = Interpreter(model.file, Interpreter.Options().setNumThreads(threads))
    private val outValues = 3 * card.tileH * card.scale * card.tileW * card.scale
    private val input = ByteBuffer.allocateDirect(4 * 3 * card.tileH * card.tileW).order(ByteOrder.nativeOrder())
    private val outType = interpreter.getOutputTensor(0).dataType()
    private val output = ByteBuffer.allocateDirect(outValues * outType.byteSize()).order(ByteOrder.nativeOrder())

    init {
        val shape = interpreter.getInputTensor(0).shape()
        if (!shape.contentEquals(intArrayOf(1, 3, card.tileH, card.tileW))) {
            throw ModelError("${model.file.name} takes ${shape.joinToString("x")}, its card says 1x3x${card.tileText}")
        }
        if ((outType == DataType.INT8) != card.outputInt8) throw ModelError("${model.file.name}: output type differs from its card")
    }

    override fun run(tile: FloatArray): FloatArray {
        input.rewind(); input.asFloatBuffer().put(tile)
        output.rewind()
        interpreter.run(input, output)
        output.rewind()
        val result = FloatArray(outValues)
        if (outType == DataType.INT8) {
            for (i in result.indices) result[i] = (output.get().toInt() - card.outputZeroPoint) * card.outputScale
        } else {
            output.asFloatBuffer().get(result)
        }
        return result
    }

    override fun close() = interpreter.close()
}
