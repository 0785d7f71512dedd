import CLZ4
import Events
import Sample
import Support
import Testing
import TestSupport

/// Helpers for the sample-generator tests: generate into a temp directory, read the files back with
/// the real log reader and event parser, decode LZ4 frames with liblz4 directly.

/// Generates a data set into `dir` and returns its manifest.
@discardableResult
func generate(into dir: String, users: Int, days: Int, seed: UInt64,
              _ configure: (inout SampleOptions) -> Void = { _ in }) throws -> SampleManifest {
    var o = SampleOptions(outputDirectory: dir, users: users, days: days, seed: seed)
    configure(&o)
    return try SampleGenerator(options: o).run()
}

/// Generates one small sample without and one with a long-range option (`set`) and checks that the
/// option changes only what it adds: catalog, users and items byte for byte, every other trait of
/// each user in `truth/users.jsonl`, and the manifest names `manifestKey` (as 0.5) only when it is
/// on. Returns the users of the sample with the option on, for the option's own checks.
func expectOnlyLongRangeTraitChanged(field: String, manifestKey: String,
                                     _ set: (inout SampleOptions) -> Void) throws -> [JSONValue] {
    let a = TempDirectory("sample-\(field)-off"), b = TempDirectory("sample-\(field)-on")
    try generate(into: a.path, users: 60, days: 6, seed: 4)
    try generate(into: b.path, users: 60, days: 6, seed: 4, set)
    for f in ["catalog.db", "users.jsonl", "truth/items.jsonl"] {
        #expect(try Files.readAll(a.file(f)) == Files.readAll(b.file(f)), "\(f)")
    }
    let ua = try readJSONLines(a.file("truth/users.jsonl")), ub = try readJSONLines(b.file("truth/users.jsonl"))
    #expect(ua.allSatisfy { $0[field] == nil })
    for (x, y) in zip(ua, ub) {
        for key in ["user_id", "interests", "popularity_bias", "events_per_day", "active_prob", "conversion_bias"] {
            #expect(x[key] != nil && x[key] == y[key], "\(key)")
        }
    }
    let manifest = String(decoding: try Files.readAll(b.file("manifest.json")), as: UTF8.self)
    #expect(manifest.contains("\"\(manifestKey)\": 0.5"))
    #expect(!String(decoding: try Files.readAll(a.file("manifest.json")), as: UTF8.self).contains(manifestKey))
    return ub
}

/// One valid event as ingest would see it.
struct ParsedEvent: Equatable {
    var user: UInt64
    var id: EventID
    var ts: Int64
    var item: UInt64
    var type: [UInt8]
    var surface: [UInt8]
    var dwell: Double
    var value: Double
}

/// An event file read line by line through `LogReader` and `EventParser`.
struct ParsedFile {
    var path: String
    var events: [ParsedEvent] = []
    /// Raw bytes of each valid line, parallel to `events`.
    var eventLines: [[UInt8]] = []
    var rejections: [Rejection] = []
    var lines = 0
}

/// Reads every event file listed in the manifest, in order, validating with the manifest's ts range.
func parseEventFiles(_ dir: String, _ manifest: SampleManifest) throws -> [ParsedFile] {
    let rules = ValidationRules(minTs: manifest.options.resolvedMinTs, maxTs: manifest.options.resolvedMaxTs)
    return try manifest.eventFiles.map { f in try parseEventFile(dir + "/" + f.path, rules: rules) }
}

func parseEventFile(_ path: String, rules: ValidationRules) throws -> ParsedFile {
    let parser = EventParser(rules: rules)
    let batch = EventBatch()
    var out = ParsedFile(path: path)
    try LogReader(path: path, hashContent: false).forEachLine({ number, line in
        out.lines += 1
        if let r = parser.parse(line, lineNumber: number, into: batch) {
            out.rejections.append(r)
            return
        }
        let e = batch.events[batch.count - 1]
        out.events.append(ParsedEvent(user: e.userID, id: batch.eventID(e), ts: e.ts, item: e.itemID,
                                      type: parser.types.entries[Int(e.type)],
                                      surface: parser.surfaces.entries[Int(e.surface)],
                                      dwell: e.dwellMs, value: e.value))
        out.eventLines.append(Array(line))
    }, overlong: { number, _ in
        out.lines += 1
        out.rejections.append(Rejection(line: number, reason: .notJSONObject, field: nil, detail: "overlong"))
    })
    return out
}

/// Decodes an LZ4-frame file with liblz4's frame API: returns each frame's decompressed bytes, or nil
/// if the data is not a sequence of complete, checksum-valid frames.
func decodeLZ4Frames(_ bytes: [UInt8]) -> [[UInt8]]? {
    var dctx: OpaquePointer?
    guard LZ4F_isError(LZ4F_createDecompressionContext(&dctx, UInt32(LZ4F_VERSION))) == 0 else { return nil }
    defer { LZ4F_freeDecompressionContext(dctx) }
    var frames: [[UInt8]] = []
    var current: [UInt8] = []
    var out = [UInt8](repeating: 0, count: 1 << 16)
    var pos = 0
    var hint = 1
    while pos < bytes.count {
        var srcSize = bytes.count - pos
        var dstSize = out.count
        let rc = bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                LZ4F_decompress(dctx, dst.baseAddress, &dstSize, src.baseAddress! + pos, &srcSize, nil)
            }
        }
        if LZ4F_isError(rc) != 0 { return nil }
        pos += srcSize
        current += out[0..<dstSize]
        hint = Int(rc)
        if hint == 0 {
            frames.append(current)
            current = []
        }
        if srcSize == 0 && dstSize == 0 { return nil }
    }
    return hint == 0 ? frames : nil
}

/// The lines of a JSON Lines file (LZ4-framed if its name ends in .lz4), parsed.
func readJSONLines(_ path: String) throws -> [JSONValue] {
    var bytes = try Files.readAll(path)
    if path.hasSuffix(".lz4") {
        guard let frames = decodeLZ4Frames(bytes) else { throw TestFailure("cannot decode \(path)") }
        bytes = frames.flatMap { $0 }
    }
    return try bytes.split(separator: 0x0A).map { try JSONValue.parse(Array($0)) }
}

/// Every regular file under `dir`, as paths relative to it, sorted.
func filesRecursively(_ dir: String, prefix: String = "") throws -> [String] {
    var out: [String] = []
    for name in try Files.list(dir) {
        let full = dir + "/" + name
        if Files.isDirectory(full) {
            out += try filesRecursively(full, prefix: prefix + name + "/")
        } else {
            out.append(prefix + name)
        }
    }
    return out.sorted()
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

extension JSONValue {
    var double: Double? { numberValue?.double }
    var int: Int? { numberValue?.int64.map { Int($0) } }
    var uint64: UInt64? { numberValue?.uint64 }
    var bool: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }
}
