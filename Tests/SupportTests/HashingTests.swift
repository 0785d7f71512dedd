import Support
import Testing

@Suite("Hashing and formatting")
struct HashingTests {
    @Test("fmix64 test vectors")
    func fmix64Vectors() {
        #expect(fmix64(0) == 0)
        #expect(fmix64(1) == 0x5692_161D_100B_05E5)
        #expect(fmix64(42) % (1 << 18) == 161_314)
        // splitmix64 seeded with 0: output k is fmix64(k * golden gamma).
        let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15
        #expect(fmix64(gamma) == 0xE220_A839_7B1D_CDAF)
        #expect(fmix64(gamma &* 2) == 0x6E78_9E6A_A1B9_65F4)
        #expect(fmix64(gamma &* 3) == 0x06C4_5D18_8009_454F)
        #expect(fmix64(gamma &* 4) == 0xF88B_B8A8_724C_81EC)
    }

    @Test("fmix64 is a bijection on a sample and spreads buckets evenly")
    func fmix64Distribution() {
        var seen = Set<UInt64>()
        var buckets = [Int](repeating: 0, count: 16)
        for x in UInt64(0)..<100_000 {
            let h = fmix64(x)
            seen.insert(h)
            buckets[Int(h >> 60)] += 1
        }
        #expect(seen.count == 100_000)
        for b in buckets { #expect(b > 5_800 && b < 6_700, "bucket count \(b)") }
    }

    @Test("fnv1a test vectors")
    func fnv1aVectors() {
        func h(_ s: String) -> UInt64 { Array(s.utf8).withUnsafeBytes { fnv1a($0) } }
        #expect(h("") == 0xCBF2_9CE4_8422_2325)
        #expect(h("a") == 0xAF63_DC4C_8601_EC8C)
        #expect(h("foobar") == 0x8594_4171_F739_67E8)
    }

    @Test("bitcasts between UInt64 and Int64")
    func bitcasts() {
        #expect(UInt64.max.bitcastSigned == -1)
        #expect((UInt64(1) << 63).bitcastSigned == Int64.min)
        #expect(UInt64(5).bitcastSigned == 5)
        #expect(Int64(-1).bitcastUnsigned == UInt64.max)
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<1000 {
            let x = rng.next()
            #expect(x.bitcastSigned.bitcastUnsigned == x)
        }
    }

    // MARK: - SHA-256

    @Test("SHA-256 FIPS 180-2 vectors")
    func sha256Vectors() {
        #expect(SHA256Hasher.digest(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256Hasher.digest([]).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256Hasher.digest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)).hex
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256Hasher.digest(Array("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu".utf8)).hex
            == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        let empty = SHA256Hasher()
        #expect(empty.finalize().hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("SHA-256 of one million 'a' fed in uneven pieces")
    func sha256MillionA() {
        let million = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        let a = [UInt8](repeating: 0x61, count: 1_000_000)
        #expect(SHA256Hasher.digest(a).hex == million)

        let h = SHA256Hasher()
        let pieces = [1, 0, 2, 3, 5, 7, 55, 56, 57, 63, 64, 65, 127, 128, 129, 1000, 4095, 4097, 65_536, 9]
        var fed = 0, i = 0
        while fed < a.count {
            let n = min(pieces[i % pieces.count], a.count - fed)
            a.withUnsafeBytes { h.update(UnsafeRawBufferPointer(rebasing: $0[fed..<(fed + n)])) }
            if i % 3 == 0 { h.update([]) } // empty updates are no-ops
            fed += n
            i += 1
        }
        #expect(fed == 1_000_000)
        #expect(h.finalize().hex == million)

        let g = SHA256Hasher()
        for _ in 0..<1000 { g.update([UInt8](repeating: 0x61, count: 1000)) }
        #expect(g.finalize().hex == million)
    }

    @Test("SHA-256 is sensitive to every byte; digests compare by value")
    func sha256Sensitivity() {
        let base = SHA256Hasher.digest(Array("abc".utf8))
        #expect(base == SHA256Hasher.digest(Array("abc".utf8)))
        #expect(base != SHA256Hasher.digest(Array("abd".utf8)))
        #expect(base != SHA256Hasher.digest(Array("abc\n".utf8)))
        #expect(base.bytes.count == 32)
        #expect(base.description == base.hex)
        #expect(base.bytes[0] == 0xBA && base.bytes[31] == 0xAD)
        #expect(Set([base, SHA256Hasher.digest(Array("abc".utf8))]).count == 1)
    }

    @Test("hexString is lowercase and zero-padded")
    func hexStrings() {
        #expect(hexString([]) == "")
        #expect(hexString([0x00, 0xFF, 0x0A, 0xA0, 0x5c]) == "00ff0aa05c")
        #expect(hexString(0...255).count == 512)
        #expect(Digest32(bytes: [UInt8](repeating: 1, count: 32)).hex == String(repeating: "01", count: 32))
    }

    // MARK: - fixed

    @Test("fixed formats with the given number of decimals", arguments: [
        (3.14159, 2, "3.14"), (2.5, 0, "3"), (-2.5, 0, "-3"), (0.125, 2, "0.13"), (1.0, 3, "1.000"),
        (-0.001, 2, "0.00"), (-0.0, 2, "0.00"), (0.0, 0, "0"), (123.456, 1, "123.5"), (0.0001, 4, "0.0001"),
        (0.05, 4, "0.0500"), (9.999, 2, "10.00"), (-9.999, 2, "-10.00"), (42.0, 0, "42"), (-1.25, 1, "-1.3"),
        (1234567.891, 3, "1234567.891"), (0.5, 0, "1"), (-0.4, 0, "0"), (1e-10, 3, "0.000"), (99.95, 3, "99.950"),
        (0.1 + 0.2, 2, "0.30"), (-7.0, 1, "-7.0"), (1e15, 1, "1000000000000000.0"), (0.999, 2, "1.00"),
        (12.0625, 3, "12.063"), (-0.0625, 3, "-0.063"),
    ] as [(Double, Int, String)])
    func fixedFormatting(x: Double, digits: Int, expected: String) {
        #expect(fixed(x, digits) == expected)
    }

    @Test("fixed passes non-finite values through")
    func fixedNonFinite() {
        #expect(fixed(.infinity, 2) == "inf")
        #expect(fixed(-.infinity, 2) == "-inf")
        #expect(fixed(.nan, 2) == "nan")
    }

    @Test("fixed agrees with exact decimal rounding on random values")
    func fixedRandom() {
        var rng = SeededGenerator(seed: 99)
        for _ in 0..<2000 {
            let cents = Int64.random(in: -10_000_000...10_000_000, using: &rng)
            let x = Double(cents) / 100 // nearest double to a two-decimal value
            let sign = cents < 0 ? "-" : ""
            let mag = cents.magnitude
            let frac = mag % 100
            let expected = "\(sign)\(mag / 100).\(frac < 10 ? "0" : "")\(frac)"
            #expect(fixed(x, 2) == expected, "\(x)")
        }
    }
}

@Suite("fixed beyond Int64")
struct FixedRangeTests {
    @Test("fixed does not trap on magnitudes beyond Int64")
    func largeValues() async {
        await #expect(processExitsWith: .success) { _ = fixed(1e19, 0) }
        await #expect(processExitsWith: .success) { _ = fixed(-2e19, 2) }
        await #expect(processExitsWith: .success) { _ = fixed(0.95, 19) }
    }
}
