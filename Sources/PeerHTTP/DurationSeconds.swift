extension Duration {
    /// The duration in seconds, fractions included: for rates, reports and JSON, which count
    /// in seconds (Swift's `Duration` has no such conversion of its own).
    ///
    /// ```swift
    /// Duration.milliseconds(1_500).inSeconds   // 1.5
    /// ```
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// A number of seconds a user gives (a flag, a configuration key, an API body), checked where
/// it enters: a value outside `range` (NaN and infinities included) is refused with a message
/// that names the setting and its range, instead of trapping later where it becomes a
/// `Duration` or an `Int` (1e19 seconds does not fit either).
///
/// ```swift
/// let settle = try SecondsSetting.check(body.settleSeconds, "settleSeconds", in: SecondsSetting.settle)
/// ```
public enum SecondsSetting {
    /// Quiet window after the last announcement: up to a day.
    public static let settle: ClosedRange<Double> = 0...86_400
    /// Relay poll interval.
    public static let relayPoll: ClosedRange<Double> = 0.05...3_600
    /// Store catch-up interval: up to a week.
    public static let storeCatchUp: ClosedRange<Double> = 1...604_800
    /// How long a write waits for a lock another program holds.
    public static let busyTimeout: ClosedRange<Double> = 0...3_600

    public struct OutOfRange: Error, Equatable, CustomStringConvertible {
        public let setting: String
        public let value: Double
        public let range: ClosedRange<Double>
        public var description: String {
            "\(setting) must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound)) seconds, not \(value)"
        }
        static func format(_ value: Double) -> String {
            value == value.rounded() ? String(Int64(value)) : String(value)
        }
    }

    /// `value` when it is in `range`; throws `OutOfRange` otherwise.
    @discardableResult
    public static func check(_ value: Double, _ setting: String, in range: ClosedRange<Double>) throws -> Double {
        guard value.isFinite, range.contains(value) else { throw OutOfRange(setting: setting, value: value, range: range) }
        return value
    }

    /// The `Duration` of a value `check` accepted (whole milliseconds).
    public static func duration(_ seconds: Double) -> Duration {
        .milliseconds(Int64((seconds * 1000).rounded()))
    }
}
