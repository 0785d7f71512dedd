import CLZ4
import Events
import Support
import Testing
import TestSupport

/// llatte's own LZ4 frame layer (`LogReader` on compressed files) against liblz4's frame API, its
/// plain twin: every frame option, concatenated and skippable frames, corruption and truncation.
@Suite struct LZ4FrameReaderTests {
    /// XXH32 test vectors, streaming in every split, and agreement with the checksums liblz4 writes.
    @Test func xxh32MatchesKnownValuesInAnySplit() {
        #expect(XXH32.hash([]) == 0x02CC_5D05)
        #expect(XXH32.hash(Array("abc".utf8)) == 0x32D1_53FF)
        var x: UInt64 = 7
        let data = (0..<300).map { _ -> UInt8 in x = fmix64(x &+ 1); return UInt8(truncatingIfNeeded: x) }
        for length in [0, 1, 3, 4, 15, 16, 17, 31, 32, 33, 100, 300] {
            let whole = XXH32.hash(Array(data[..<length]), seed: 5)
            for cut in Set([0, 1, length / 3, length / 2, max(0, length - 1), length]) where cut <= length {
                var h = XXH32(seed: 5)
                data.withUnsafeBytes { b in
                    h.update(UnsafeRawBufferPointer(rebasing: b[0..<cut]))
                    var at = cut
                    while at < length { let step = min(7, length - at); h.update(UnsafeRawBufferPointer(rebasing: b[at..<at + step])); at += step }
                }
                #expect(h.digest() == whole, "length \(length) cut \(cut)")
            }
        }
    }

    /// Compresses with explicit frame preferences.
    func frame(_ input: [UInt8], blockSizeID: LZ4F_blockSizeID_t, linked: Bool, blockChecksum: Bool,
               contentChecksum: Bool, contentSize: Bool) -> [UInt8] {
        LZ4Reference.frame(input, .init(blockSizeID: blockSizeID, linked: linked, blockChecksum: blockChecksum,
                                        contentChecksum: contentChecksum, contentSize: contentSize))
    }

    /// liblz4's frame API over the whole file: the decompressed bytes, or nil if it refuses the file.
    func reference(_ bytes: [UInt8]) -> [UInt8]? { LZ4Reference.decompress(bytes) }

    /// `LogReader` over the file: the sha256 of what it decompressed, or nil if it rejected the file.
    func ours(_ dir: TempDirectory, _ bytes: [UInt8]) -> Digest32? {
        let path = dir.write("f.jsonl.lz4", bytes)
        let reader = LogReader(path: path, hashContent: true)
        do { try reader.forEachLine({ _, _ in }, overlong: { _, _ in }) } catch { return nil }
        return reader.contentDigest()
    }

    func text(_ n: Int, seed: UInt64) -> [UInt8] {
        var x = seed
        var out: [UInt8] = []
        while out.count < n {
            x = fmix64(x &+ 1)
            out += Array(eventLine(user: x % 97, id: String(x >> 20), ts: Int64(x % 100_000), item: x % 1013,
                                   type: ["click", "impression"][Int(x % 2)]).utf8) + [0x0A]
        }
        return Array(out[..<n])
    }

    @Test func everyFrameOptionDecodesLikeLiblz4() throws {
        let dir = TempDirectory()
        var k: UInt64 = 0
        for sizeID in [LZ4F_max64KB, LZ4F_max256KB, LZ4F_max1MB, LZ4F_max4MB] {
            for linked in [false, true] {
                for blockChecksum in [false, true] {
                    for contentChecksum in [false, true] {
                        for contentSize in [false, true] {
                            k += 1
                            // Lengths around block boundaries, an empty frame, and several frames back to back.
                            var file: [UInt8] = []
                            var plain: [UInt8] = []
                            for n in [0, 1, 70_000, 300_001] {
                                let t = text(n, seed: k &* 31 &+ UInt64(n))
                                file += frame(t, blockSizeID: sizeID, linked: linked, blockChecksum: blockChecksum,
                                              contentChecksum: contentChecksum, contentSize: contentSize)
                                plain += t
                            }
                            file += [0x5A, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 9, 9, 9]
                            #expect(reference(file) == plain)
                            #expect(ours(dir, file) == SHA256Hasher.digest(plain), "option set \(k)")
                        }
                    }
                }
            }
        }
    }

    @Test func largeLinkedFramesUseTheirHistory() throws {
        // Highly repetitive text: matches reach back across block boundaries into the previous block.
        let dir = TempDirectory()
        let t = text(100_000, seed: 3)
        var plain: [UInt8] = []
        for _ in 0..<20 { plain += t }
        for sizeID in [LZ4F_max64KB, LZ4F_max256KB] {
            let file = frame(plain, blockSizeID: sizeID, linked: true, blockChecksum: false, contentChecksum: true, contentSize: false)
            #expect(ours(dir, file) == SHA256Hasher.digest(plain))
        }
    }

    /// Flipped bytes and cut files: llatte rejects exactly what liblz4 rejects, and otherwise
    /// decompresses the same bytes.
    @Test func corruptionAndTruncationAreJudgedLikeLiblz4() throws {
        let dir = TempDirectory()
        var x: UInt64 = 99
        func next() -> UInt64 { x = fmix64(x &+ 0x9E37_79B9_7F4A_7C15); return x }
        var disagreements = 0
        for k in 0..<400 {
            let options = next()
            let t = text(Int(next() % 200_000), seed: next())
            var file = frame(t, blockSizeID: [LZ4F_max64KB, LZ4F_max256KB][Int(options % 2)], linked: options & 2 != 0,
                             blockChecksum: options & 4 != 0, contentChecksum: options & 8 != 0, contentSize: options & 16 != 0)
            // The first four bytes stay: without the LZ4 magic a file is read as plain text.
            if k % 4 == 0 {
                file = Array(file[..<(4 + Int(next() % UInt64(file.count - 4)))])
            } else {
                for _ in 0..<(1 + Int(next() % 3)) { file[4 + Int(next() % UInt64(file.count - 4))] ^= UInt8(1 + next() % 255) }
            }
            let want = reference(file).map { SHA256Hasher.digest($0) }
            let got = ours(dir, file)
            if want != got { disagreements += 1 }
            #expect(want == got, "case \(k): liblz4 \(want == nil ? "rejects" : "accepts"), llatte \(got == nil ? "rejects" : "accepts")")
        }
        #expect(disagreements == 0)
    }
}
