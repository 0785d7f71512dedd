import CLZ4
import Events
import Support
import Testing
import TestSupport

/// `LogReader` on compressed files against liblz4's frame API over the whole file: every frame
/// option, concatenated and skippable frames fed in bounded reads, corruption and truncation.
@Suite struct LZ4FrameReaderTests {
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

    /// What `LogReader` says when it rejects the file.
    func rejection(_ dir: TempDirectory, _ bytes: [UInt8]) -> String? {
        let path = dir.write("f.jsonl.lz4", bytes)
        do { try LogReader(path: path, hashContent: true).forEachLine({ _, _ in }, overlong: { _, _ in }) } catch { return "\(error)" }
        return nil
    }

    /// Bytes after the last complete frame are called trailing, at their offset (not a frame the
    /// file ends inside); an unknown magic is shown with its offset.
    @Test func strayBytesAfterTheLastFrameAndAnUnknownMagicNameTheirOffset() throws {
        let dir = TempDirectory()
        let path = dir.file("f.jsonl.lz4")
        let whole = frame(text(5000, seed: 4), blockSizeID: LZ4F_max64KB, linked: false, blockChecksum: false, contentChecksum: true, contentSize: false)
        for stray in [[0x78], [0x04, 0x22, 0x4D]] as [[UInt8]] {
            #expect(rejection(dir, whole + stray) == "\(path): trailing bytes after the last frame at offset \(whole.count); file rejected")
        }
        #expect(rejection(dir, whole + whole + [0x11, 0x22, 0x33, 0x44, 0x55])
                == "\(path): corrupt LZ4 frame (unknown frame magic 0x44332211 at offset \(2 * whole.count)); file rejected")
        // A file cut inside its frame is still truncated.
        #expect(rejection(dir, Array(whole.dropLast(2)))?.contains("file ends inside a frame") == true)
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
