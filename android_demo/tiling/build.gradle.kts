// The tiler as a plain Kotlin/JVM library, used by the app module and testable without Android.
// CI builds and tests it without Gradle (run_golden_tests.sh); in Android Studio this file wires it into the project.
plugins {
    kotlin("jvm")
}

kotlin {
    jvmToolchain(17)
}

// The golden test is a main() (see GoldenTest.kt) so that kotlinc alone can run it; Gradle runs it the same way.
tasks.register<JavaExec>("goldenTest") {
    group = "verification"
    description = "Runs the tiler against tests/golden/tiling.json"
    classpath = sourceSets["test"].runtimeClasspath
    mainClass.set("ai.seemore.tiling.GoldenTestKt")
    args = listOf(rootProject.projectDir.resolve("../tests/golden/tiling.json").path)
}
tasks.named("check") { dependsOn("goldenTest") }
