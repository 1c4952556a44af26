import CoreML
import Photos
import PhotosUI
import SwiftUI
import Tiling

/// Pick a photo, choose a Core ML model and compute units, upscale tile by tile with the tiling of
/// seemore_edge/tiling.py, compare before/after, save to Photos.
struct ContentView: View {
    /// Photos above this are downscaled first, so a x4 result stays within 16 MP.
    static let maxInputPixels = 1_000_000

    @State private var pick: PhotosPickerItem?
    @State private var input: CGImage?
    @State private var output: CGImage?
    @State private var status = ""
    @State private var busy = false
    @State private var progress = 0.0
    @State private var cpuOnly = false
    @State private var split = 0.5
    @State private var zoom = 1.0
    @State private var selected = 0
    private let models = CoreMLUpscaler.available()

    var body: some View {
        VStack(spacing: 12) {
            HStack {
                PhotosPicker("Pick photo", selection: $pick, matching: .images)
                Spacer()
                Toggle("CPU only", isOn: $cpuOnly).fixedSize()
            }
            if models.isEmpty {
                Text(ModelProblem.noModel.localizedDescription).foregroundStyle(.red)
            } else {
                Picker("Model", selection: $selected) {
                    ForEach(models.indices, id: \.self) { Text(models[$0].name).tag($0) }
                }
            }
            compareView
            if busy { ProgressView(value: progress) }
            Text(status).font(.footnote).frame(maxWidth: .infinity, alignment: .leading)
            HStack {
                Button("Upscale") { Task { await upscale() } }.disabled(busy || input == nil || models.isEmpty)
                Spacer()
                Button("Save to Photos") { save() }.disabled(output == nil)
            }
        }
        .padding()
        .onChange(of: pick) { _, item in Task { await load(item) } }
    }

    private var compareView: some View {
        GeometryReader { geo in
            ZStack(alignment: .leading) {
                if let input { Image(decorative: input, scale: 1).resizable().interpolation(.medium).scaledToFit() }
                if let output {
                    Image(decorative: output, scale: 1).resizable().interpolation(.medium).scaledToFit()
                        .mask(HStack(spacing: 0) { Color.clear.frame(width: geo.size.width * split); Color.black })
                    Rectangle().fill(.white).frame(width: 2).offset(x: geo.size.width * split)
                }
            }
            .scaleEffect(zoom)
            .contentShape(Rectangle())
            .gesture(DragGesture().onChanged { split = min(max($0.location.x / geo.size.width, 0), 1) })
            .gesture(MagnificationGesture().onChanged { zoom = min(max($0, 1), 16) })
        }
    }

    private func load(_ item: PhotosPickerItem?) async {
        guard let item else { return }
        do {
            guard let data = try await item.loadTransferable(type: Data.self),
                  let source = CGImageSourceCreateWithData(data as CFData, nil),
                  let props = CGImageSourceCopyPropertiesAtIndex(source, 0, nil) as? [CFString: Any],
                  let w = props[kCGImagePropertyPixelWidth] as? Int, let h = props[kCGImagePropertyPixelHeight] as? Int
            else { status = "Could not open that photo."; return }
            let side = Double(max(w, h)) * min(1, (Double(Self.maxInputPixels) / Double(w * h)).squareRoot())
            let opts: [CFString: Any] = [kCGImageSourceCreateThumbnailFromImageAlways: true,
                                         kCGImageSourceCreateThumbnailWithTransform: true,
                                         kCGImageSourceThumbnailMaxPixelSize: Int(side)]
            input = CGImageSourceCreateThumbnailAtIndex(source, 0, opts as CFDictionary)
            output = nil
            if let input {
                status = "\(input.width) x \(input.height)" + (w * h > Self.maxInputPixels ? " (downscaled from \(w) x \(h) to stay within memory)" : "")
            }
        } catch {
            status = "Could not open that photo: \(error.localizedDescription)"
        }
    }

    private func upscale() async {
        guard let input, !models.isEmpty else { return }
        guard input.width >= 16, input.height >= 16 else {
            status = "The photo is \(input.width) x \(input.height); the model needs at least 16 x 16 pixels."
            return
        }
        busy = true
        defer { busy = false }
        let entry = models[selected]
        let units: MLComputeUnits = cpuOnly ? .cpuOnly : .all
        do {
            let card = try ModelCard.load(entry.card)
            let model = try CoreMLUpscaler(card: card, compiled: entry.compiled, computeUnits: units)
            let (w, h) = (input.width, input.height)
            let rgb = try rgbBytes(input)
            let s = card.scale
            let start = Date()
            // The loop runs off the main actor; the closures are non-escaping, so they may fill these locals.
            let (out, tileMs) = try await Task.detached(priority: .userInitiated) { () throws -> ([UInt8], [Double]) in
                var out = [UInt8](repeating: 0, count: w * s * h * s * 3)
                var tileMs: [Double] = []
                try Tiling.upscaleTiled(image: rgb, height: h, width: w, scale: s, tileH: card.tile.height,
                                        tileW: card.tile.width, overlap: card.overlap,
                                        run: { tile in
                                            let t0 = Date(); let r = try model.run(tile)
                                            tileMs.append(Date().timeIntervalSince(t0) * 1000); return r
                                        },
                                        progress: { done, total in
                                            Task { @MainActor in progress = Double(done) / Double(total) }
                                        },
                                        sink: { top, rows in
                                            let at = top * w * s * 3
                                            out.replaceSubrange(at..<(at + rows.count), with: rows)
                                        })
                return (out, tileMs)
            }.value
            let total = Date().timeIntervalSince(start) * 1000
            output = makeImage(out, width: w * s, height: h * s)
            let median = tileMs.sorted()[tileMs.count / 2]
            status = "Core ML \(card.precision.uppercased()) on \(cpuOnly ? "CPU" : "all compute units"): \(tileMs.count) tiles, " +
                String(format: "%.1f ms per tile (median), %.0f ms in all", median, total) + " → \(w * s) x \(h * s)"
        } catch {
            status = "Upscaling failed: \(error.localizedDescription)"
        }
    }

    private func rgbBytes(_ image: CGImage) throws -> [UInt8] {
        let (w, h) = (image.width, image.height)
        var rgba = [UInt8](repeating: 0, count: w * h * 4)
        guard let ctx = CGContext(data: &rgba, width: w, height: h, bitsPerComponent: 8, bytesPerRow: w * 4,
                                  space: CGColorSpaceCreateDeviceRGB(),
                                  bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue) else {
            throw ModelProblem.unsupported("cannot read the photo's pixels")
        }
        ctx.draw(image, in: CGRect(x: 0, y: 0, width: w, height: h))
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h) { rgb[i * 3] = rgba[i * 4]; rgb[i * 3 + 1] = rgba[i * 4 + 1]; rgb[i * 3 + 2] = rgba[i * 4 + 2] }
        return rgb
    }

    private func makeImage(_ rgb: [UInt8], width: Int, height: Int) -> CGImage? {
        guard let provider = CGDataProvider(data: Data(rgb) as CFData) else { return nil }
        return CGImage(width: width, height: height, bitsPerComponent: 8, bitsPerPixel: 24, bytesPerRow: width * 3,
                       space: CGColorSpaceCreateDeviceRGB(), bitmapInfo: CGBitmapInfo(rawValue: 0), provider: provider,
                       decode: nil, shouldInterpolate: true, intent: .defaultIntent)
    }

    private func save() {
        guard let output else { return }
        PHPhotoLibrary.requestAuthorization(for: .addOnly) { auth in
            guard auth == .authorized || auth == .limited else {
                Task { @MainActor in status = "Saving needs permission to add to Photos." }
                return
            }
            PHPhotoLibrary.shared().performChanges({
                PHAssetChangeRequest.creationRequestForAsset(from: UIImage(cgImage: output))
            }) { ok, error in
                Task { @MainActor in status = ok ? "Saved to Photos." : "Saving failed: \(error?.localizedDescription ?? "unknown")" }
            }
        }
    }
}
