import Foundation

/// Dates as the CLI and the config accept them: unix seconds, `2026-11-01`, `2026-11-01T12:00:00Z`.
public enum DateParsing {
    public static func unixSeconds(_ text: String) -> UInt64? {
        if let seconds = UInt64(text) { return seconds }
        if let date = ISO8601DateFormatter().date(from: text) { return UInt64(max(0, date.timeIntervalSince1970)) }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        return day.date(from: text).map { UInt64(max(0, $0.timeIntervalSince1970)) }
    }
}
