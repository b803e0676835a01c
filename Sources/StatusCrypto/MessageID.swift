/// status-go's message ID: `keccak256(uncompressed signer (65 bytes) || AMM bytes)`,
/// rendered `0x` + hex. (status-go's comment says "compressed"; its code uses uncompressed.)
///
/// ```swift
/// let id = MessageID.compute(signer: author, applicationMessage: ammBytes)   // "0x7db0…"
/// ```
public enum MessageID {
    public static func compute(signer: PublicKey, applicationMessage: [UInt8]) -> String {
        var hasher = Keccak256()
        hasher.update(signer.uncompressed)
        hasher.update(applicationMessage)
        return Hex.encode(hasher.finalize(), prefixed: true)
    }
}
