import Events
import Support
import Testing
import TestSupport

/// Plain and LZ4-framed logs: concatenated and skippable frames, corruption, truncation, hashing.
@Suite struct LogReaderTests {
    let rules = ValidationRules(minTs: 0, maxTs: 1 << 40)

    func lines(_ n: Int, from: Int = 0) -> [String] {
        (from..<from + n).map { eventLine(user: UInt64($0 % 7), id: String($0), ts: Int64(1000 + $0)) }
    }

    func readAll(_ path: String) throws -> (events: Int, lines: [Int], summary: ReadSummary) {
        var numbers: [Int] = []
        let s = try readEventLog(path: path, parser: EventParser(rules: rules), batch: EventBatch(), batchSize: 100, hashContent: true,
                                 onBatch: { b in numbers += b.events.map(\.line) }, onReject: { _ in })
        return (s.events, numbers, s)
    }

    /// Batch sizes handed over for a file of `users` users with `perUser` events each, interleaved.
    func batchSizes(users: Int, perUser: Int, batchSize: Int, early: Int) throws -> [Int] {
        let dir = TempDirectory()
        let ls = (0..<(users * perUser)).map { i in eventLine(user: UInt64(1000 + i % users), id: String(i), ts: Int64(1000 + i)) }
        var sizes: [Int] = []
        _ = try readEventLog(path: dir.writeLines("a.jsonl", ls), parser: EventParser(rules: rules), batch: EventBatch(),
                             batchSize: batchSize, earlyBatchSize: early, hashContent: false,
                             onBatch: { b in sizes.append(b.count) }, onReject: { _ in })
        return sizes
    }

    @Test func shortHistoriesGoInEarlyBatchesAndLongOnesInFullBatches() throws {
        // 6,000 users with one event each: fewer than eight events per user, so a batch goes at 1,000.
        let short = try batchSizes(users: 6000, perUser: 1, batchSize: 100_000, early: 1000)
        #expect(short.reduce(0, +) == 6000)
        #expect(short.dropLast().allSatisfy { $0 == 1000 }, "\(short)")
        // 50 users with 120 events each: checked at 1,000, 2,000 and 4,000, kept until the batch is full.
        let long = try batchSizes(users: 50, perUser: 120, batchSize: 5000, early: 1000)
        #expect(long == [5000, 1000], "\(long)")
        // The early size never exceeds the batch size.
        let capped = try batchSizes(users: 3000, perUser: 1, batchSize: 700, early: 1000)
        #expect(capped.reduce(0, +) == 3000 && capped.dropLast().allSatisfy { $0 == 700 }, "\(capped)")
    }

    @Test func plainAndCompressedGiveTheSameEventsAndDigest() throws {
        let dir = TempDirectory()
        let ls = lines(5000)
        let plain = try readAll(dir.writeLines("a.jsonl", ls))
        let packed = try readAll(dir.writeLines("a.jsonl.lz4", ls, lz4: true))
        #expect(plain.events == 5000 && packed.events == 5000)
        #expect(plain.lines == Array(1...5000) && packed.lines == plain.lines)
        #expect(plain.summary.digest == packed.summary.digest)
        #expect(plain.summary.checksum == packed.summary.checksum)
        #expect(packed.summary.compressed && !plain.summary.compressed)
        let text = Array((ls.joined(separator: "\n") + "\n").utf8)
        #expect(plain.summary.digest == SHA256Hasher.digest(text))
    }

    @Test func concatenatedAndSkippableFramesAreRead() throws {
        let dir = TempDirectory()
        // A frame may end in the middle of a line: the next frame continues it.
        let text = Array((lines(300).joined(separator: "\n") + "\n").utf8)
        let cut = 1234
        var skippable: [UInt8] = [0x50, 0x2A, 0x4D, 0x18, 5, 0, 0, 0, 1, 2, 3, 4, 5]
        var file = LZ4FrameWriter.compress(Array(text[..<cut]))
        file += skippable
        file += LZ4FrameWriter.compress(Array(text[cut...]))
        skippable[0] = 0x5F
        file += skippable
        let r = try readAll(dir.write("multi.jsonl.lz4", file))
        #expect(r.events == 300)
        #expect(r.summary.digest == SHA256Hasher.digest(text))
    }

    @Test func corruptFrameRejectsTheFileNamingIt() throws {
        let dir = TempDirectory()
        var file = LZ4FrameWriter.compress(Array((lines(2000).joined(separator: "\n") + "\n").utf8))
        file[file.count / 2] ^= 0xFF
        let path = dir.write("bad.jsonl.lz4", file)
        #expect {
            try readAll(path)
        } throws: { e in
            guard let e = e as? LogReadError, case let .corruptFrame(p, _) = e else { return false }
            return p == path && e.description.contains(path)
        }
    }

    @Test func truncatedFrameRejectsTheFile() throws {
        let dir = TempDirectory()
        let file = LZ4FrameWriter.compress(Array((lines(2000).joined(separator: "\n") + "\n").utf8))
        for keep in [5, file.count / 2, file.count - 1] {
            let path = dir.write("cut\(keep).jsonl.lz4", Array(file[..<keep]))
            #expect {
                try readAll(path)
            } throws: { e in
                guard let e = e as? LogReadError else { return false }
                if case let .truncatedFrame(p) = e { return p == path }
                return false
            }
        }
    }

    @Test func otherCompressionFormatsAreRejectedNamingTheFormat() throws {
        let dir = TempDirectory()
        let text = dir.writeLines("plain.jsonl", lines(500))
        // Real files from the tools where this machine has them, else their magic bytes.
        var files: [(path: String, format: String)] = []
        for (tool, args, name, format) in [("/usr/bin/lz4", ["-l", "-q", "-f"], "legacy.jsonl.lz4", "the LZ4 legacy format"),
                                           ("/usr/bin/gzip", ["-k", "-c"], "day.jsonl.gz", "gzip")] {
            let out = dir.file(name)
            let p = try ChildProcess("/bin/sh", ["-c", "\(tool) \(args.joined(separator: " ")) \(text) \(tool.hasSuffix("gzip") ? ">" : "") \(out)"],
                                     outputPrefix: dir.file(name + ".tool"))
            #expect(p.wait() == 0, "\(tool): \(p.stderr)")
            files.append((out, format))
        }
        for (magic, name, format) in [([0x28, 0xB5, 0x2F, 0xFD], "z.jsonl.zst", "zstd"), ([0x42, 0x5A, 0x68, 0x39], "b.jsonl.bz2", "bzip2"),
                                      ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "x.jsonl.xz", "xz")] as [([UInt8], String, String)] {
            files.append((dir.write(name, magic + Array(repeating: 0x41, count: 64)), format))
        }
        for (path, format) in files {
            #expect {
                try readAll(path)
            } throws: { e in
                guard let e = e as? LogReadError, case let .unsupportedCompression(p, f) = e else { return false }
                return p == path && f == format && e.description.contains("compressed with \(format); llatte reads JSONL or LZ4-frame JSONL")
            }
        }
    }

    @Test func theLineLimitIsOnTheLineWithoutItsTerminator() throws {
        let dir = TempDirectory()
        let limit = 64
        let exact = String(repeating: "x", count: limit), over = String(repeating: "y", count: limit + 1)
        // LF, CRLF, an overlong CRLF line, CRLF, and a last line ending in a lone CR at the end of the file.
        let text = exact + "\n" + exact + "\r\n" + over + "\r\n" + exact + "\r\n" + exact + "\r"
        for (name, bytes) in [("crlf.jsonl", Array(text.utf8)), ("crlf.jsonl.lz4", LZ4FrameWriter.compress(Array(text.utf8)))] {
            var lines: [Int] = [], long: [Int] = []
            try LogReader(path: dir.write(name, bytes), maxLineBytes: limit, hashContent: false).forEachLine({ n, b in
                lines.append(n)
                #expect(b.count == limit)
            }, overlong: { n, _ in long.append(n) })
            #expect(lines == [1, 2, 4, 5] && long == [3], "\(name): lines \(lines), overlong \(long)")
        }
    }

    @Test func garbageAfterAFrameIsCorruption() throws {
        let dir = TempDirectory()
        let file = LZ4FrameWriter.compress(Array("{}\n".utf8)) + Array("trailing".utf8)
        let path = dir.write("tail.jsonl.lz4", file)
        #expect(throws: LogReadError.self) { try readAll(path) }
    }

    @Test func contentChecksumMismatchIsCaught() throws {
        let dir = TempDirectory()
        var file = LZ4FrameWriter.compress(Array((lines(50).joined(separator: "\n") + "\n").utf8))
        file[file.count - 1] ^= 0x01 // the frame's content checksum
        #expect(throws: LogReadError.self) { try readAll(dir.write("sum.jsonl.lz4", file)) }
    }

    @Test func largeFileStreamsAcrossManyWindows() throws {
        let dir = TempDirectory()
        // ~12 MB decompressed spans several 4 MiB windows; a final line without newline is still read.
        let ls = lines(100_000)
        var text = Array(ls.joined(separator: "\n").utf8)
        text += Array("\n".utf8) + Array(eventLine(user: 1, id: "\"last\"", ts: 5).utf8)
        let r = try readAll(dir.write("big.jsonl.lz4", LZ4FrameWriter.compress(text)))
        #expect(r.events == 100_001)
        #expect(r.lines.last == 100_001)
        #expect(r.summary.digest == SHA256Hasher.digest(text))
    }

    @Test func missingFileIsAnIOError() {
        #expect(throws: LogReadError.self) { try readAll("/nonexistent/x.jsonl") }
    }

    @Test func emptyFileHasNoEvents() throws {
        let dir = TempDirectory()
        let r = try readAll(dir.write("empty.jsonl", []))
        #expect(r.events == 0 && r.summary.lines == 0)
    }
}
