import Support

// MARK: - npy

/// The npy format: one array per column, rows appended as they are read.
/// user_ids `<u8` [N]; codes `|i1` [N, K, D] and scales `<f4` [N, K], or embeddings `<f4` [N, K, D];
/// as_of `<i8` [N] (−1: no events); history_version `<i8` [N]; n_events `<i4` [N].
final class NpyExportSink: ExportSink {
    /// as_of of a user with no events (NULL in the store).
    static let noEventsAsOf: Int64 = -1

    private let k: Int, d: Int
    private let userIDs: NpyWriter
    private let codes: NpyWriter?, scales: NpyWriter?
    private let embeddings: NpyWriter?
    private let asOf: NpyWriter, historyVersion: NpyWriter, nEvents: NpyWriter
    private var all: [NpyWriter] { [userIDs] + [codes, scales, embeddings].compactMap { $0 } + [asOf, historyVersion, nEvents] }

    init(directory: String, interests k: Int, interestDim d: Int, dequantize: Bool) throws(FileError) {
        self.k = k
        self.d = d
        func file(_ name: String) -> String { directory + "/" + name }
        userIDs = try NpyWriter(path: file("user_ids.npy"), dtype: .uint64)
        if dequantize {
            embeddings = try NpyWriter(path: file("embeddings.npy"), dtype: .float32, rowShape: [k, d])
            codes = nil
            scales = nil
        } else {
            codes = try NpyWriter(path: file("codes.npy"), dtype: .int8, rowShape: [k, d])
            scales = try NpyWriter(path: file("scales.npy"), dtype: .float32, rowShape: [k])
            embeddings = nil
        }
        asOf = try NpyWriter(path: file("as_of.npy"), dtype: .int64)
        historyVersion = try NpyWriter(path: file("history_version.npy"), dtype: .int64)
        nEvents = try NpyWriter(path: file("n_events.npy"), dtype: .int32)
    }

    func write(_ row: ExportRow) throws {
        guard let n = Int32(exactly: row.nEvents) else {
            throw ExportRowProblem(field: "n_events", message: "\(row.nEvents) does not fit int32")
        }
        try userIDs.append(row.userID)
        if let embeddings {
            for i in 0..<k {
                for j in 0..<d { try embeddings.append(row.value(i, j, interestDim: d)) }
            }
        } else {
            // The store's blobs are already int8 and little-endian float32: copied as they are.
            try codes!.append(raw: row.codes)
            try scales!.append(raw: row.scales)
        }
        try asOf.append(row.asOf ?? NpyExportSink.noEventsAsOf)
        try historyVersion.append(row.historyVersion)
        try nEvents.append(n)
    }

    func finish() throws -> [ExportedFile] {
        try all.map { w throws -> ExportedFile in
            let n = try w.finish()
            return ExportedFile(name: String(w.path.split(separator: "/").last!), dtype: w.dtype.rawValue, shape: [n] + w.rowShape)
        }
    }

    func commit() throws {
        for w in all { try w.commit() }
    }
}

// MARK: - jsonl

/// The jsonl format, `embeddings.jsonl`: one object per user and line,
/// `{"user_id":…,"codes":[[…D]…K],"scales":[…K],"n_events":…,"as_of":…|null,"history_version":…}`;
/// with dequantize, `"embedding":[[…D]…K]` (float32 values) replaces codes and scales. Floats are
/// written in the shortest form that reads back as the same float32.
final class JSONLExportSink: ExportSink {
    private let k: Int, d: Int, dequantize: Bool
    private let file: StagedFile
    private var line: [UInt8] = []
    private var digits = [UInt8](repeating: 0, count: 20)
    private var lines = 0

    init(directory: String, interests k: Int, interestDim d: Int, dequantize: Bool) throws(FileError) {
        self.k = k
        self.d = d
        self.dequantize = dequantize
        file = try StagedFile(path: directory + "/embeddings.jsonl")
        line.reserveCapacity(64 + k * d * (dequantize ? 16 : 5))
    }

    /// A [k][d] JSON array of arrays, each element written by `element(i, j)`.
    private func appendMatrix(_ element: (Int, Int) throws -> Void) rethrows {
        line.append(0x5B)
        for i in 0..<k {
            if i > 0 { line.append(0x2C) }
            line.append(0x5B)
            for j in 0..<d {
                if j > 0 { line.append(0x2C) }
                try element(i, j)
            }
            line.append(0x5D)
        }
        line.append(0x5D)
    }

    func write(_ row: ExportRow) throws {
        line.removeAll(keepingCapacity: true)
        append("{\"user_id\":")
        appendDecimal(row.userID)
        if dequantize {
            append(",\"embedding\":")
            try appendMatrix { i, j in try appendFloat(row.value(i, j, interestDim: d), "embedding") }
        } else {
            append(",\"codes\":")
            appendMatrix { i, j in appendDecimal(Int64(Int8(bitPattern: row.codes[i * d + j]))) }
            append(",\"scales\":[")
            for i in 0..<k {
                if i > 0 { line.append(0x2C) }
                try appendFloat(row.scale(i), "scales")
            }
            line.append(0x5D)
        }
        append(",\"n_events\":")
        appendDecimal(row.nEvents)
        append(",\"as_of\":")
        if let a = row.asOf { appendDecimal(a) } else { append("null") }
        append(",\"history_version\":")
        appendDecimal(row.historyVersion)
        append("}\n")
        try file.write(line)
        lines += 1
    }

    func finish() throws -> [ExportedFile] {
        try file.finish()
        return [ExportedFile(name: "embeddings.jsonl", lines: lines)]
    }

    func commit() throws { try file.commit() }

    private func append(_ s: StaticString) {
        s.withUTF8Buffer { line.append(contentsOf: $0) }
    }

    private func appendDecimal(_ v: Int64) {
        if v < 0 { line.append(0x2D) }
        appendDecimal(v.magnitude)
    }

    private func appendDecimal(_ v: UInt64) {
        var v = v, i = digits.count
        repeat {
            i -= 1
            digits[i] = 0x30 + UInt8(v % 10)
            v /= 10
        } while v > 0
        line.append(contentsOf: digits[i...])
    }

    /// A finite float32 as Swift spells it (`0.25`, `1e-05`, `-0.0`): valid JSON, and parsed back to
    /// the same float32. JSON has no NaN or infinity: a row holding one is refused.
    private func appendFloat(_ x: Float, _ field: String) throws(ExportRowProblem) {
        guard x.isFinite else { throw ExportRowProblem(field: field, message: "\(x) has no JSON spelling") }
        line.append(contentsOf: x.description.utf8)
    }
}

// MARK: - meta.json

/// meta.json: what was exported, from where, when, and each file's dtype and shape.
struct ExportMeta {
    var request: ExportRequest
    var store: String
    var version: ModelVersionInfo
    var rows: Int
    var requested: Int?
    var missing: [UInt64]
    var files: [ExportedFile]

    func json() -> [UInt8] {
        var w = JSONWriter()
        func field(_ key: String, first: Bool = false, _ value: (inout JSONWriter) -> Void) {
            w.raw(first ? "{\n  " : ",\n  ")
            w.key(key, first: true)
            w.raw(" ")
            value(&w)
        }
        field("format", first: true) { $0.string(request.format.rawValue) }
        field("dequantized") { $0.raw(request.dequantize ? "true" : "false") }
        field("model_version") { $0.string(version.version) }
        field("checkpoint_identity") { $0.string(version.identity) }
        field("status") { $0.string(version.status.rawValue) }
        field("interests") { $0.raw(String(version.interests)) }
        field("interest_dim") { $0.raw(String(version.interestDim)) }
        field("count") { $0.raw(String(rows)) }
        field("exported_at") { $0.string(request.exportedAt) }
        field("store") { $0.string(store) }
        field("users_file") { w in if let f = request.usersFile { w.string(f) } else { w.raw("null") } }
        field("requested") { $0.raw(requested.map(String.init) ?? "null") }
        field("missing_count") { $0.raw(String(missing.count)) }
        field("missing") { $0.raw("[" + missing.map(String.init).joined(separator: ", ") + "]") }
        field("as_of_no_events") { $0.raw(request.format == .npy ? String(NpyExportSink.noEventsAsOf) : "null") }
        field("order") { $0.string("user_id ascending as unsigned 64-bit") }
        field("files") { w in
            w.raw("{")
            for (i, f) in files.enumerated() {
                w.raw(i == 0 ? "\n    " : ",\n    ")
                w.key(f.name, first: true)
                w.raw(" {")
                if let dtype = f.dtype, let shape = f.shape {
                    w.key("dtype", first: true); w.raw(" "); w.string(dtype)
                    w.raw(", "); w.key("shape", first: true); w.raw(" [" + shape.map(String.init).joined(separator: ", ") + "]")
                }
                if let lines = f.lines { w.key("lines", first: true); w.raw(" " + String(lines)) }
                w.raw("}")
            }
            w.raw("\n  }")
        }
        w.raw("\n}\n")
        return w.bytes
    }
}
