// swift-tools-version:5.9
// The tiling specification of seemore_edge/tiling.py in Swift, tested against tests/golden/tiling.json.
import PackageDescription

let package = Package(
    name: "Tiling",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [.library(name: "Tiling", targets: ["Tiling"])],
    targets: [
        .target(name: "Tiling"),
        .testTarget(name: "TilingTests", dependencies: ["Tiling"]),
    ]
)
