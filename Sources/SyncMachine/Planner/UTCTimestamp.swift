/// Unix seconds as an ISO 8601 UTC timestamp (`2026-11-01T12:00:00Z`), the form
/// `ISO8601DateFormatter` writes, computed here so that this module needs no Foundation.
/// The date is the proleptic Gregorian calendar's, from days since 1970-01-01 (the civil-from-days
/// algorithm of Howard Hinnant's "chrono-compatible low-level date algorithms").
struct UTCTimestamp: CustomStringConvertible {
    let unixSeconds: UInt64

    var description: String {
        let days = Int64(unixSeconds / 86_400)
        let secondOfDay = Int(unixSeconds % 86_400)
        let z = days + 719_468
        let era = z / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return "\(Self.pad(year, 4))-\(Self.pad(month, 2))-\(Self.pad(day, 2))T"
            + "\(Self.pad(Int64(secondOfDay / 3_600), 2)):\(Self.pad(Int64(secondOfDay / 60 % 60), 2)):\(Self.pad(Int64(secondOfDay % 60), 2))Z"
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
