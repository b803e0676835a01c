import Testing
@testable import StatusCrypto

@Suite struct Keccak256Tests {
    @Test func publishedVectors() {
        #expect(Hex.encode(Keccak256.hash([UInt8]())) == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
        #expect(Hex.encode(Keccak256.hash(Array("abc".utf8))) == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")
        #expect(Hex.encode(Keccak256.hash(Array("The quick brown fox jumps over the lazy dog".utf8)))
                == "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15")
    }

    /// Digests of `byte[i] = i*7+3` at every length around the 136-byte rate, computed with
    /// pycryptodome's Keccak-256 (an independent implementation).
    static let boundaryVectors: [(Int, String)] = [
        (1, "69c322e3248a5dfc29d73c5b0553b0185a35cd5bb6386747517ef7e53b15e287"),
        (55, "152cc5298108a3ec3a26e0c5aead9c2770c184a6bdf87eb087716b185c8e2238"),
        (56, "515efa1a7d43f655443dff20ec3f7e75e2af9ec2415ca813d21d0918a0e70fa2"),
        (64, "0251cf13aa5b18f1cbda7cddbe85f3dc536fc93df590c2d20ca9b28af1ed2c39"),
        (135, "00ef96af9cf4b24c7f269d922294444a197d0a33638c2e56634c57e892103a8f"),
        (136, "742061bcad767ed4c4f5883b1dcb1aad11afdcc140dc469d953759b127b9f9ed"),
        (137, "e3371f61e770abf254c34239c3b0099ad90594507415bc81dd0a10b9692bbf2a"),
        (271, "4401c4afbe16ff911bdbf2d38e556e5b861f3fdf0f9d4306b1c46f6ae4f73584"),
        (272, "ac141fd7b0a0ffcd2e967254d508da3ec616596493c36fa304425647d90e6de5"),
        (273, "16192ea86793083e47731cb3c970600f04768414d92bc0540e54ce8607a0fce0"),
        (1000, "80cdc8dd52cbb3dbaea8f383209893fa2bb52efbd5aedbb4b26dcfe307fcdc9b"),
        (100_000, "42350b8598669d17e07ef0f32083916166e0310d9faf2859dde1377b1d50826c"),
    ]

    static func pattern(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) } }

    @Test(arguments: boundaryVectors)
    func rateBoundaryLengths(length: Int, expected: String) {
        #expect(Hex.encode(Keccak256.hash(Self.pattern(length))) == expected)
    }

    @Test(arguments: boundaryVectors)
    func incrementalUpdatesGiveTheSameDigest(length: Int, expected: String) {
        let data = Self.pattern(length)
        for chunk in [1, 7, 135, 136, 137, 500] {
            var hasher = Keccak256()
            var offset = 0
            while offset < data.count {
                hasher.update(data[offset..<min(offset + chunk, data.count)])
                offset += chunk
            }
            #expect(Hex.encode(hasher.finalize()) == expected, "chunk size \(chunk)")
        }
    }

    @Test func everyLengthUpToThreeBlocksMatchesIncrementalHashing() {
        // One-shot and byte-at-a-time must agree at every length across three rate blocks.
        for length in 0...(3 * 136 + 1) {
            let data = Self.pattern(length)
            var hasher = Keccak256()
            for byte in data { hasher.update(CollectionOfOne(byte)) }
            #expect(hasher.finalize() == Keccak256.hash(data), "length \(length)")
        }
    }
}
