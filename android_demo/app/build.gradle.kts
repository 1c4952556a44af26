plugins {
    id("com.android.application")
    kotlin("android")
}

android {
    namespace = "ai.seemore.demo"
    compileSdk = 35
    defaultConfig {
        applicationId = "ai.seemore.demo"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1"
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
    // .pte and .tflite files are already compressed as much as they get; keep them mmap-able.
    androidResources { noCompress += listOf("pte", "tflite") }
}

dependencies {
    implementation(project(":tiling"))
    implementation("org.pytorch:executorch-android:1.0.0")
    implementation("com.google.ai.edge.litert:litert:1.4.0")
    implementation("androidx.appcompat:appcompat:1.7.0")
    implementation("androidx.activity:activity-ktx:1.9.3")
    implementation("com.google.android.material:material:1.12.0")
}

// The models come from the export step, never from git:
//   python -m seemore_edge.export --weights T-x4-qat --formats pte,tflite --precision int8,fp32 --out out/export
//   ./gradlew :app:copyModels            (or -PmodelsDir=/path/to/export)
// copies every .pte/.tflite with its card (<file>.json) into the app's assets.
val copyModels by tasks.registering(Copy::class) {
    val dir = (project.findProperty("modelsDir") as String?) ?: rootProject.projectDir.resolve("../out/export").path
    from(dir) { include("*.pte", "*.tflite", "*.pte.json", "*.tflite.json") }
    into(layout.projectDirectory.dir("src/main/assets/models"))
    doFirst {
        if (!file(dir).isDirectory) throw GradleException("no exported models in $dir: run python -m seemore_edge.export first")
    }
}
