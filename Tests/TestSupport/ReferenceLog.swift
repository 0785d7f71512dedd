import CLZ4
import Events
import Support

/// liblz4's frame API over whole files, the plain twin of the read stage's block-at-a-time feeding
/// of it: frames written with explicit options, and whole files decompressed.
public enum LZ4Reference {
    /// Options of one LZ4 frame, as `LZ4F_preferences_t` spells them.
    public struct FrameOptions: Sendable {
        public var blockSizeID: LZ4F_blockSizeID_t = LZ4F_max4MB
        public var linked = false
        public var blockChecksum = false
        public var contentChecksum = true
        public var contentSize = false

        public init(blockSizeID: LZ4F_blockSizeID_t = LZ4F_max4MB, linked: Bool = false, blockChecksum: Bool = false,
                    contentChecksum: Bool = true, contentSize: Bool = false) {
            self.blockSizeID = blockSizeID
            self.linked = linked
            self.blockChecksum = blockChecksum
            self.contentChecksum = contentChecksum
            self.contentSize = contentSize
        }
    }

    /// `input` compressed into one frame with `options`.
    public static func frame(_ input: [UInt8], _ options: FrameOptions) -> [UInt8] {
        var prefs = LZ4F_preferences_t()
        prefs.frameInfo.blockSizeID = options.blockSizeID
        prefs.frameInfo.blockMode = options.linked ? LZ4F_blockLinked : LZ4F_blockIndependent
        prefs.frameInfo.blockChecksumFlag = options.blockChecksum ? LZ4F_blockChecksumEnabled : LZ4F_noBlockChecksum
        prefs.frameInfo.contentChecksumFlag = options.contentChecksum ? LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum
        prefs.frameInfo.contentSize = options.contentSize ? UInt64(input.count) : 0
        let bound = LZ4F_compressFrameBound(input.count, &prefs)
        var out = [UInt8](repeating: 0, count: bound)
        let n = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { LZ4F_compressFrame($0.baseAddress, bound, src.baseAddress, input.count, &prefs) }
        }
        precondition(LZ4F_isError(n) == 0, "LZ4F_compressFrame failed")
        return Array(out[..<n])
    }

    /// The decompressed content of a file of LZ4 frames (and skippable frames), or nil if liblz4
    /// refuses it: a corrupt frame, or a file that ends inside one.
    public static func decompress(_ bytes: [UInt8]) -> [UInt8]? {
        var dctx: OpaquePointer?
        guard LZ4F_isError(LZ4F_createDecompressionContext(&dctx, UInt32(LZ4F_VERSION))) == 0 else { return nil }
        defer { LZ4F_freeDecompressionContext(dctx) }
        var result: [UInt8] = []
        var out = [UInt8](repeating: 0, count: 1 << 16)
        var pos = 0
        var hint = 0
        while pos < bytes.count {
            var srcSize = bytes.count - pos
            var dstSize = out.count
            let rc = bytes.withUnsafeBytes { src in
                out.withUnsafeMutableBytes { LZ4F_decompress(dctx, $0.baseAddress, &dstSize, src.baseAddress! + pos, &srcSize, nil) }
            }
            if LZ4F_isError(rc) != 0 { return nil }
            pos += srcSize
            result += out[0..<dstSize]
            hint = Int(rc)
            if srcSize == 0 && dstSize == 0 { return nil }
        }
        return hint == 0 ? result : nil
    }
}

/// The plain twin of the read stage (`readEventLog`) for the fuzz tests, written from the format's
/// rules (docs/data.md) alone: the file's first bytes choose plain text, LZ4 frames (decoded by liblz4's frame API) or
/// another compressor (refused); the content is split at `\n`, a trailing `\r` dropped,
/// whitespace-only lines skipped but numbered, lines over the limit refused; every other line goes
/// through the general parser (`parseGeneral`) alone.
public struct ReferenceLog {
    /// What became of one non-blank line.
    public enum Outcome: Equatable {
        /// An event: its index in `batch`.
        case event(Int)
        case rejected(ReasonCode, field: String?)
    }

    /// Why the whole file is refused.
    public enum FileRejection: Equatable {
        /// Another compressor's magic opens the file.
        case unsupportedCompression(String)
        /// liblz4 refuses the frames (corrupt, or the file ends inside one).
        case badFrame
    }

    public let rejection: FileRejection?
    /// Whether the file opens with an LZ4 frame or skippable-frame magic.
    public let compressed: Bool
    /// The decompressed content (the file itself when plain); nil when the file is refused.
    public let content: [UInt8]?
    /// Every non-blank line by physical number, in file order.
    public private(set) var lines: [(number: Int, outcome: Outcome)] = []
    public let parser: EventParser
    public let batch = EventBatch()

    /// Magics of the compressors llatte refuses by name (gzip, zstd, bzip2, xz, `lz4 -l`).
    static let otherMagics: [(bytes: [UInt8], format: String)] = [
        ([0x02, 0x21, 0x4C, 0x18], "the LZ4 legacy format"), ([0x1F, 0x8B], "gzip"), ([0x28, 0xB5, 0x2F, 0xFD], "zstd"),
        ([0x42, 0x5A, 0x68], "bzip2"), ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "xz"),
    ]

    public init(file: [UInt8], rules: ValidationRules, maxLineBytes: Int) {
        parser = EventParser(rules: rules)
        let magic = file.count >= 4 ? UInt32(file[0]) | UInt32(file[1]) << 8 | UInt32(file[2]) << 16 | UInt32(file[3]) << 24 : 0
        compressed = magic == 0x184D_2204 || (0x184D_2A50...0x184D_2A5F).contains(magic)
        if compressed {
            content = LZ4Reference.decompress(file)
            rejection = content == nil ? .badFrame : nil
        } else if let other = ReferenceLog.otherMagics.first(where: { file.starts(with: $0.bytes) }) {
            content = nil
            rejection = .unsupportedCompression(other.format)
        } else {
            content = file
            rejection = nil
        }
        guard let content else { return }
        var pieces = content.split(separator: 0x0A, omittingEmptySubsequences: false)
        if pieces.last?.isEmpty == true { pieces.removeLast() }   // the file ends with a newline
        for (k, piece) in pieces.enumerated() {
            let number = k + 1
            if piece.count > maxLineBytes && !(piece.count == maxLineBytes + 1 && piece.last == 0x0D) {
                lines.append((number, .rejected(.notJSONObject, field: nil)))
                continue
            }
            var line = Array(piece)
            if line.last == 0x0D { line.removeLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let before = batch.count
            if let r = line.withUnsafeBufferPointer({ parser.parseGeneral($0, lineNumber: number, into: batch) }) {
                lines.append((number, .rejected(r.reason, field: r.field)))
            } else {
                lines.append((number, .event(before)))
            }
        }
    }

    public var rejectedLines: Int { lines.filter { if case .rejected = $0.outcome { return true } else { return false } }.count }
}

/// The read stage (`readEventLog`) on one file, checked against `ReferenceLog`: a refused file is a
/// `LogReadError` of the twin's kind; otherwise every non-blank line is an event or a quarantined
/// line (lines = events + rejected, each counter matching what was handed over), line by line the
/// same lines are accepted with equal events and rejected with the same reason and field, and the
/// content digest and event checksum are the twin's.
public struct ReadStageCheck {
    /// "file rejected", "empty" (no line), "quarantined" (some line rejected), "accepted", or
    /// "failed" when the comparison stopped early.
    public private(set) var outcome = "failed"
    /// Non-blank lines read.
    public private(set) var lines = 0
    /// Every disagreement found.
    public private(set) var failures: [String] = []

    /// An event with its strings, comparable across parsers.
    struct FlatEvent: Equatable, CustomStringConvertible {
        var line: Int, user: UInt64, item: UInt64, ts: Int64, id: EventID, type: [UInt8], surface: [UInt8]
        var dwellBits: UInt64, valueBits: UInt64

        init(_ e: Event, _ batch: EventBatch, _ parser: EventParser) {
            line = e.line; user = e.userID; item = e.itemID; ts = e.ts; id = batch.eventID(e)
            type = parser.types.bytes(e.type); surface = parser.surfaces.bytes(e.surface)
            dwellBits = e.dwellMs.bitPattern; valueBits = e.value.bitPattern
        }

        var description: String {
            "line \(line): user \(user) item \(item) ts \(ts) id \(id) type \(String(decoding: type, as: UTF8.self)) "
                + "surface \(String(decoding: surface, as: UTF8.self)) dwell \(Double(bitPattern: dwellBits)) value \(Double(bitPattern: valueBits))"
        }
    }

    /// Reads `path`, which holds `file`, under `rules`, in batches of `batchSize`.
    public init(file: [UInt8], path: String, rules: ValidationRules, maxLineBytes: Int, batchSize: Int) {
        let twin = ReferenceLog(file: file, rules: rules, maxLineBytes: maxLineBytes)
        let parser = EventParser(rules: rules)
        var events: [FlatEvent] = []
        var rejections: [Rejection] = []
        let summary: ReadSummary
        do {
            summary = try readEventLog(path: path, parser: parser, batch: EventBatch(), batchSize: batchSize, earlyBatchSize: batchSize,
                                       hashContent: true, maxLineBytes: maxLineBytes,
                                       onBatch: { b in events += b.events.map { FlatEvent($0, b, parser) } },
                                       onReject: { rejections.append($0) })
        } catch let e as LogReadError {
            outcome = "file rejected"
            switch (e, twin.rejection) {
            case (.corruptFrame, .badFrame?), (.truncatedFrame, .badFrame?): break
            // One to three stray bytes after complete frames: liblz4 over the whole file reads
            // them as a frame begun, the reader names them; the frames before must decode.
            case let (.trailingBytes(_, offset), .badFrame?) where offset < file.count && file.count - offset < 4
                && LZ4Reference.decompress(Array(file[..<offset])) != nil: break
            case let (.unsupportedCompression(_, format), .unsupportedCompression(expected)?) where format == expected: break
            default: failures.append("the reader refused the file (\(e)); the twin \(twin.rejection.map { "refuses it: \($0)" } ?? "reads it")")
            }
            return
        } catch {
            failures.append("the reader threw an untyped error: \(error)")
            return
        }
        if let r = twin.rejection { failures.append("the reader read the file; the twin refuses it: \(r)") }
        guard let content = twin.content else { return }

        // Every line accounted for, once.
        lines = summary.lines
        if summary.lines != summary.events + summary.rejected {
            failures.append("lines \(summary.lines) != events \(summary.events) + rejected \(summary.rejected)")
        }
        if events.count != summary.events { failures.append("\(events.count) events handed over, the summary counts \(summary.events)") }
        if rejections.count != summary.rejected { failures.append("\(rejections.count) lines quarantined, the summary counts \(summary.rejected)") }
        if summary.lines != twin.lines.count { failures.append("\(summary.lines) non-blank lines, the twin finds \(twin.lines.count)") }
        if summary.rejectedByReason.values.reduce(0, +) != summary.rejected { failures.append("rejections by reason do not add up to \(summary.rejected)") }

        // Line by line: the same lines accepted and rejected, equal events, the same reasons.
        var e = 0, r = 0
        for (number, lineOutcome) in twin.lines {
            func text() -> String {
                let pieces = content.split(separator: 0x0A, omittingEmptySubsequences: false)
                return number - 1 < pieces.count ? String(decoding: pieces[number - 1].prefix(300), as: UTF8.self) : "?"
            }
            switch lineOutcome {
            case let .event(index):
                let want = FlatEvent(twin.batch.events[index], twin.batch, twin.parser)
                guard e < events.count, events[e].line == number else {
                    let reader = rejections.first { $0.line == number }.map { "rejects it (\($0.reason.rawValue): \($0.detail))" } ?? "skips it"
                    failures.append("line \(number): the twin accepts it, the reader \(reader): \(text())")
                    return
                }
                if events[e] != want { failures.append("line \(number): the reader's event \(events[e]) differs from the twin's \(want): \(text())") }
                e += 1
            case let .rejected(reason, field):
                guard r < rejections.count, rejections[r].line == number else {
                    failures.append("line \(number): the twin rejects it (\(reason.rawValue)), the reader \(events.contains { $0.line == number } ? "accepts it" : "skips it"): \(text())")
                    return
                }
                if rejections[r].reason != reason || rejections[r].field != field {
                    failures.append("line \(number): rejected as \(rejections[r].reason.rawValue) (\(rejections[r].field ?? "-")), the twin says \(reason.rawValue) (\(field ?? "-")): \(text())")
                }
                r += 1
            }
        }
        if e != events.count || r != rejections.count { failures.append("the reader produced lines the twin does not have") }

        // The content hash and the event checksum match the twin's.
        if summary.digest != SHA256Hasher.digest(content) { failures.append("content digest differs from the sha256 of the decompressed bytes") }
        var checksum = EventChecksum()
        checksum.add(twin.batch, parser: twin.parser)
        if summary.checksum != checksum.value { failures.append("event checksum differs from the twin's") }
        if summary.compressed != twin.compressed { failures.append("read as \(summary.compressed ? "LZ4" : "plain"), the twin says otherwise") }
        outcome = summary.lines == 0 ? "empty" : summary.rejected > 0 ? "quarantined" : "accepted"
    }
}
