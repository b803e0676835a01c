import Foundation
import Logging

/// The command line's swift-log handler: `level label: message key=value…` on standard error.
/// While a live progress block is drawn, lines go through the `ProgressPrinter` so that they
/// land above the block instead of tearing through it.
struct ConsoleLogHandler: LogHandler {
    let label: String
    let progress: ProgressPrinter?
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, level: Logger.Level, progress: ProgressPrinter?) {
        self.label = label
        self.logLevel = level
        self.progress = progress?.enabled == true ? progress : nil
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let own = event.metadata { fields.merge(own) { _, new in new } }
        let details = fields.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        let text = "\(event.level) \(label): \(event.message)\(details)"
        if let progress {
            progress.line(text)
        } else {
            FileHandle.standardError.write(Data((text + "\n").utf8))
        }
    }
}
