import SwiftUI

@main
struct SeemoReDemoApp: App {
    var body: some Scene {
        WindowGroup { ContentView() }
    }
}
