import Testing
@testable import StatusCrypto

@Suite struct Secp256k1Tests {
    let communitySecret = try! Hex.decode("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")

    @Test func derivesCompressedAndUncompressedKeys() throws {
        let key = try PrivateKey(bytes: communitySecret)
        #expect(Hex.encode(key.publicKey.compressed) == "024e3b81af9c2234cad09d679ce6035ed1392347ce64ce405f5dcd36228a25de6e")
        #expect(Hex.encode(key.publicKey.uncompressed) == "044e3b81af9c2234cad09d679ce6035ed1392347ce64ce405f5dcd36228a25de6e47fd35c4215d1edf53e6f83de344615ce719bdb0fd878f6ed76f06dd277956de")
        #expect(try PublicKey(bytes: key.publicKey.compressed) == key.publicKey)
    }

    @Test func signThenRecoverGivesTheSigner() throws {
        let key = try PrivateKey(bytes: communitySecret)
        let digest = Keccak256.hash(Array("payload".utf8))
        let signature = try key.sign(digest: digest)
        #expect(signature.count == 65 && signature[64] <= 1)
        #expect(try PublicKey.recover(signature: signature, digest: digest) == key.publicKey)
        // The spec's V = 27/28 form recovers the same key.
        var legacy = signature
        legacy[64] += 27
        #expect(try PublicKey.recover(signature: legacy, digest: digest) == key.publicKey)
    }

    @Test func badSignaturesAreRejectedWithAReason() throws {
        let digest = Keccak256.hash(Array("payload".utf8))
        let signature = try PrivateKey(bytes: communitySecret).sign(digest: digest)
        #expect(throws: SignatureError.invalidSignatureLength(64)) { try PublicKey.recover(signature: Array(signature.prefix(64)), digest: digest) }
        var badV = signature
        badV[64] = 9
        #expect(throws: SignatureError.invalidRecoveryID(9)) { try PublicKey.recover(signature: badV, digest: digest) }
        var overflow = signature
        for i in 0..<32 { overflow[i] = 0xff }
        #expect(throws: SignatureError.malformedSignature) { try PublicKey.recover(signature: overflow, digest: digest) }
        // A tampered digest recovers some other key, never the signer.
        let other = try PublicKey.recover(signature: signature, digest: Keccak256.hash(Array("other".utf8)))
        #expect(other != (try PrivateKey(bytes: communitySecret)).publicKey)
    }

    @Test func rejectsInvalidKeys() {
        #expect(throws: SignatureError.invalidPrivateKey) { try PrivateKey(bytes: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: SignatureError.invalidPublicKey(length: 33)) { try PublicKey(bytes: [0x05] + [UInt8](repeating: 1, count: 32)) }
    }

    @Test func hexRoundTripsAndRejectsGarbage() throws {
        #expect(try Hex.decode("0xAB01") == [0xab, 0x01])
        #expect(Hex.encode([0xab, 0x01], prefixed: true) == "0xab01")
        #expect(throws: HexError.self) { try Hex.decode("abc") }
        #expect(throws: HexError.self) { try Hex.decode("zz") }
    }
}
