package ai.seemore.demo

import java.io.File
import java.security.MessageDigest

/** The artifact card, read by the tiling library's reader (the one CI runs against tests/golden/artifact_card.json). */
typealias ModelCard = ai.seemore.tiling.ArtifactCard

/** A model file and its card, checked against each other before anything runs. */
class InstalledModel(val file: File, val card: ModelCard) {
    fun verify() {
        if (card.file != file.name) throw ModelError("card ${card.file}.json does not belong to ${file.name}")
        val actual = sha256(file)
        if (actual != card.sha256) {
            throw ModelError("${file.name} does not match its card (sha256 ${actual.take(12)}… vs ${card.sha256.take(12)}…): copy both from the same export")
        }
    }
}

class ModelError(message: String) : Exception(message)

fun sha256(file: File): String {
    val md = MessageDigest.getInstance("SHA-256")
    file.inputStream().use { s ->
        val buf = ByteArray(1 shl 16)
        while (true) { val n = s.read(buf); if (n < 0) break; md.update(buf, 0, n) }
    }
    return md.digest().joinToString("") { "%02x".format(it) }
}
