import Foundation

/// Lowercase hex encoding and decoding, with or without a `0x` prefix.
///
/// ```swift
/// Hex.encode([0xab, 0x01])            // "ab01"
/// Hex.encode([0xab], prefixed: true)  // "0xab"
/// try Hex.decode("0xab01")            // [0xab, 0x01]
/// ```
public enum Hex {
    public static func encode<Bytes: Sequence>(_ bytes: Bytes, prefixed: Bool = false) -> String
    where Bytes.Element == UInt8 {
        let written: String? = bytes.withContiguousStorageIfAvailable { encode($0, prefixed: prefixed) }
        return written ?? Array(bytes).withUnsafeBufferPointer { encode($0, prefixed: prefixed) }
    }

    /// Writes the digits straight into the string's storage: an ID or an author is encoded for
    /// every imported message, and building an array first cost as much as the rest of it.
    private static func encode(_ bytes: UnsafeBufferPointer<UInt8>, prefixed: Bool) -> String {
        let prefix = prefixed ? 2 : 0
        return String(unsafeUninitializedCapacity: prefix + 2 * bytes.count) { out in
            if prefixed {
                out[0] = UInt8(ascii: "0")
                out[1] = UInt8(ascii: "x")
            }
            var i = prefix
            for byte in bytes {
                out[i] = hexDigit(byte >> 4)
                out[i + 1] = hexDigit(byte & 0x0f)
                i += 2
            }
            return i
        }
    }

    @inline(__always)
    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ nibble &- 10
    }

    public static func decode(_ string: String) throws -> [UInt8] {
        var text = Substring(string)
        if text.hasPrefix("0x") || text.hasPrefix("0X") { text = text.dropFirst(2) }
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { throw HexError.oddLength(string) }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let high = nibble(utf8[i]), let low = nibble(utf8[i + 1]) else {
                throw HexError.invalidCharacter(string)
            }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

public enum HexError: Error, CustomStringConvertible {
    case oddLength(String)
    case invalidCharacter(String)

    public var description: String {
        switch self {
        case .oddLength(let s): return "hex string has an odd number of digits: \(s.prefix(80))"
        case .invalidCharacter(let s): return "hex string has a non-hex character: \(s.prefix(80))"
        }
    }
}
