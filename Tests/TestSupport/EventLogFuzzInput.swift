import CLZ4
import Events
import Support

/// One fuzzed event log file: seed logs mutated on the decompressed side (then written plain or as
/// valid LZ4 frames, so the parser is reached behind valid framing) or on the compressed side
/// (framing, block data and checksums), with the line limit it is read under.
public struct EventLogFuzzInput {
    public enum Kind: String, CaseIterable, Sendable {
        /// Mutated JSONL, written plain.
        case plain
        /// Mutated JSONL in valid LZ4 frames (random frame options, sometimes several frames and a
        /// skippable frame).
        case framed
        /// Valid frames of (lightly mutated) JSONL, then the compressed bytes mutated.
        case corruptFrame
    }

    public var kind: Kind
    public var bytes: [UInt8]
    public var maxLineBytes: Int
    /// The mutations applied, for failure messages.
    public var mutations: [String]

    /// The validation bounds the fuzz inputs are read under: some seed lines fall outside.
    public static let rules = ValidationRules(minTs: 0, maxTs: 2_000_000_000)

    /// Draws one input from `rng`.
    public init(seeds: [[UInt8]], rng: inout SplitMix64, mutator: ByteMutator = .json) {
        var text = rng.pick(seeds)
        let donor = rng.pick(seeds)
        kind = rng.pick(Kind.allCases)
        // A log of a few 64 KiB blocks, where lines and overlong lines cross block boundaries; rarely
        // one past the read stage's first 1 MiB read, where a plain file's lines cross reads.
        let size = rng.chance(0.04) ? 150_000 : rng.chance(0.001) ? 1_200_000 : 0
        while text.count < size { text += rng.pick(seeds) }
        switch kind {
        case .plain, .framed:
            // A few go unmutated: the framing and the line limit still vary.
            mutations = rng.chance(0.08) ? [] : mutator.mutate(&text, count: 1 + rng.below(rng.chance(0.8) ? 4 : 24), rng: &rng, donor: donor)
        case .corruptFrame:
            mutations = rng.chance(0.3) ? mutator.mutate(&text, count: 1 + rng.below(3), rng: &rng, donor: donor) : []
        }
        // Short line limits make overlong lines common; one at a line's own length (± 1) puts that
        // line, and a CR before its newline, right at the limit.
        maxLineBytes = 1 << 20
        if rng.chance(0.2) {
            maxLineBytes = 60 + rng.below(240)
            let lengths = text.split(separator: 0x0A).map(\.count).filter { $0 > 1 }
            if !lengths.isEmpty && rng.chance(0.5) { maxLineBytes = rng.pick(lengths) - 1 + rng.below(3) }
        }
        if kind == .plain {
            bytes = text
            return
        }
        bytes = EventLogFuzzInput.frames(text, rng: &rng)
        guard kind == .corruptFrame else { return }
        // Compressed-side mutations: most keep the first four bytes, so the file is still taken
        // for LZ4 and the frame layer judges it; the others exercise the format detection.
        let keep = rng.chance(0.8) ? min(4, bytes.count) : 0
        var tail = Array(bytes[keep...])
        let binary = ByteMutator(tokens: [[0, 0, 0, 0], [0xFF, 0xFF, 0xFF, 0x7F], [0x04, 0x22, 0x4D, 0x18], [0x50, 0x2A, 0x4D, 0x18],
                                          [0x00, 0x00, 0x40, 0x00], [0x00, 0x00, 0x00, 0x80], [0x60, 0x70], [0x64, 0x40]])
        mutations += binary.mutate(&tail, count: 1 + rng.below(rng.chance(0.8) ? 2 : 8), rng: &rng, donor: bytes).map { "lz4 " + $0 }
        bytes = Array(bytes[..<keep]) + tail
    }

    /// `text` as one or more valid LZ4 frames with random options, sometimes with a skippable frame.
    static func frames(_ text: [UInt8], rng: inout SplitMix64) -> [UInt8] {
        func options(_ rng: inout SplitMix64) -> LZ4Reference.FrameOptions {
            LZ4Reference.FrameOptions(blockSizeID: rng.chance(0.7) ? LZ4F_max64KB : LZ4F_max4MB, linked: rng.chance(0.5),
                                      blockChecksum: rng.chance(0.5), contentChecksum: rng.chance(0.7), contentSize: rng.chance(0.5))
        }
        let skippable: [UInt8] = [0x50 + UInt8(rng.below(16)), 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 7, 7, 7]
        var out: [UInt8] = []
        if rng.chance(0.1) { out += skippable }
        if text.count > 1 && rng.chance(0.3) {
            // A frame may end inside a line; the next one continues it.
            let cut = 1 + rng.below(text.count - 1)
            out += LZ4Reference.frame(Array(text[..<cut]), options(&rng))
            if rng.chance(0.3) { out += skippable }
            out += LZ4Reference.frame(Array(text[cut...]), options(&rng))
        } else {
            out += LZ4Reference.frame(text, options(&rng))
        }
        if rng.chance(0.1) { out += skippable }
        return out
    }

    // MARK: - Seeds

    /// Small valid logs in the spellings llatte meets: canonical lines, keys in any order with
    /// unknown nested fields, spaced-out JSON, escapes and UTF-8, CRLF and blank lines, repeated
    /// event ids (duplicates for the store), and real lines of the committed sample data.
    public static func seedLogs() -> [[UInt8]] {
        var x: UInt64 = 2024
        func next() -> UInt64 { x = fmix64(x &+ 0x9E37_79B9_7F4A_7C15); return x }
        let types = ["click", "impression", "purchase", "save"], surfaces = ["feed", "reels", "marketplace"]
        var logs: [[String]] = []
        // Canonical, integer and string ids, optional dwell_ms and value.
        logs.append((0..<40).map { (k: Int) -> String in
            let id: String = k % 4 == 0 ? "\"e-\(k)\"" : String(next() % 100)
            let dwell = Double(next() % 100_000) / 1000
            let extra: String = k % 3 == 0 ? ",\"dwell_ms\":\(dwell)" : k % 5 == 0 ? ",\"value\":12.5" : ""
            return eventLine(user: 1000 + next() % 5, id: id, ts: Int64(1_700_000_000 + k), item: next() % 50,
                             type: types[k % 4], surface: surfaces[k % 3], extra: extra)
        })
        // Keys in other orders, unknown fields at any depth, nulls.
        logs.append((0..<30).map { (k: Int) -> String in
            var members = ["\"event_id\":\(k)", "\"ts\":\(1_700_000_000 + k)", "\"user_id\":\(2000 + k % 4)", "\"item_id\":\(k * 7)",
                           "\"type\":\"\(types[k % 4])\"", "\"surface\":\"\(surfaces[k % 3])\""]
            if k % 2 == 0 { members.append("\"ctx\":{\"ab\":[1,2,{\"x\":null}],\"geo\":{\"lat\":1.5e1}}") }
            if k % 3 == 0 { members.append("\"value\":null") }
            for a in stride(from: members.count - 1, to: 0, by: -1) { members.swapAt(a, Int(next() % UInt64(a + 1))) }
            return "{" + members.joined(separator: ",") + "}"
        })
        // Spaced out, as pretty encoders write.
        logs.append((0..<25).map { (k: Int) -> String in
            "{ \"event_id\": \(k + 500), \"ts\": \(1_700_000_100 + k), \"user_id\": \(3000 + k % 3), \"item_id\": \(k), "
                + "\"type\": \"\(types[k % 4])\", \"surface\": \"feed\", \"dwell_ms\": \(k).25 }"
        })
        // Escapes and non-ASCII strings, integral numbers in other spellings.
        logs.append((0..<25).map { (k: Int) -> String in
            let item: String = "\(k)" + (k % 2 == 0 ? ".0" : "")
            return "{\"event_id\":\"caf\\u00e9-\(k)\",\"ts\":1.7e9,\"user_id\":\(4000 + k % 2),\"item_id\":\(item),"
                + "\"type\":\"cl\\u0069ck\",\"surface\":\"r\u{e9}els\",\"note\":\"tab\\there \\\"q\\\" \\ud83d\\ude00\"}"
        })
        var seeds = logs.map { Array(($0.joined(separator: "\n") + "\n").utf8) }
        // CRLF line ends, blank and whitespace-only lines, a last line without a newline.
        let crlf = (0..<20).map { k in eventLine(user: 5000, id: String(k % 8), ts: Int64(1_700_000_000 + k)) }
        seeds.append(Array((crlf[..<10].joined(separator: "\r\n") + "\r\n\r\n  \t\n" + crlf[10...].joined(separator: "\n")).utf8))
        seeds.append(sampleDataLines(40))
        return seeds
    }

    /// The first `n` lines of the committed sample data's first event log.
    static func sampleDataLines(_ n: Int) -> [UInt8] {
        var root = #filePath
        for _ in 0..<3 { root = Files.parentDirectory(root) }
        let dir = root + "/sample-data/events"
        guard let first = (try? Files.list(dir))?.sorted().first else { preconditionFailure("no sample data in \(dir)") }
        var out: [UInt8] = []
        var taken = 0
        struct Enough: Error {}
        do {
            try LogReader(path: dir + "/" + first, hashContent: false).forEachLine({ _, line in
                out += line
                out.append(0x0A)
                taken += 1
                if taken == n { throw Enough() }
            }, overlong: { _, _ in })
        } catch is Enough {} catch { preconditionFailure("reading \(first): \(error)") }
        return out
    }
}
