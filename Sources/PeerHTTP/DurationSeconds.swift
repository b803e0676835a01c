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
