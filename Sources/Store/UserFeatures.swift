import Events
import Support

/// One user-feature value: a categorical string (compared as bytes) or a dense number.
public enum FeatureValue: Sendable, Equatable {
    case categorical([UInt8])
    case dense(Double)
}

/// A user's feature record from the snapshot: fields by name (bytes), sorted by name.
public struct UserFeatures: Sendable, Equatable {
    public var userID: UInt64
    /// The snapshot that last wrote this record.
    public var snapshot: Int64
    public var fields: [(name: [UInt8], value: FeatureValue)]

    public init(userID: UInt64, snapshot: Int64, fields: [(name: [UInt8], value: FeatureValue)]) {
        self.userID = userID
        self.snapshot = snapshot
        self.fields = fields
    }

    public static func == (a: UserFeatures, b: UserFeatures) -> Bool {
        a.userID == b.userID && a.snapshot == b.snapshot && a.fields.count == b.fields.count
            && zip(a.fields, b.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// The value of a field, if present.
    public func value(_ name: String) -> FeatureValue? {
        let n = Array(name.utf8)
        return fields.first { $0.name == n }?.value
    }
}

/// What ingesting one user-features file did.
public struct FeatureIngestReport: Sendable {
    public var path: String
    public var digest: Digest32
    /// nil when the file's content was already ingested (a no-op).
    public var snapshot: Int64?
    public var records = 0
    public var users = 0
    public var rejections: [Rejection] = []
    /// Why the whole file was rejected, if it was.
    public var rejected: String?

    public init(path: String, digest: Digest32, snapshot: Int64? = nil, records: Int = 0, users: Int = 0,
                rejections: [Rejection] = [], rejected: String? = nil) {
        self.path = path
        self.digest = digest
        self.snapshot = snapshot
        self.records = records
        self.users = users
        self.rejections = rejections
        self.rejected = rejected
    }

    public var badFraction: Double { records + rejections.count == 0 ? 0 : Double(rejections.count) / Double(records + rejections.count) }
}

extension HistoryStore {
    /// Ingests a user-features file (JSON Lines: `{"user_id": U, "<field>": "<category>" | <number> | null, …}`)
    /// as a new snapshot: the latest record per user wins, users absent from the file keep theirs.
    /// The whole file is one transaction; a file whose content was ingested before is a no-op.
    /// A file whose bad fraction exceeds `maxBadFraction` is rejected whole (returns with `snapshot` nil
    /// and the rejections; nothing written).
    public func ingestFeatures(path file: String, maxBadFraction: Double) throws -> FeatureIngestReport {
        // Streamed into one open transaction in file order (a later record of a user overwrites an
        // earlier one), so memory does not grow with the file; whether to keep it — content seen
        // before, or too many bad records — is decided at the end, by commit or rollback.
        var rejections: [Rejection] = []
        var records = 0
        let reader = LogReader(path: file, hashContent: true)
        try db.execute("BEGIN IMMEDIATE")
        var open = true
        defer { if open { try? db.execute("ROLLBACK") } }
        let snap = (try db.scalarInt("SELECT coalesce(max(snapshot), 0) + 1 FROM feature_snapshots")) ?? 1
        let up = try db.prepare("""
            INSERT INTO user_features(user_id, snapshot, record) SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE user_id = ?1)
            ON CONFLICT(user_id) DO UPDATE SET snapshot = excluded.snapshot, record = excluded.record
            """)
        try reader.forEachLine({ number, line in
            switch FeatureRecord.parse(line, lineNumber: number) {
            case let .success(rec):
                records += 1
                try up.run([.int(rec.userID.bitcastSigned), .int(snap), .blob(rec.packed)])
            case let .failure(r):
                rejections.append(r)
            }
        }, overlong: { number, length in
            rejections.append(Rejection(line: number, reason: .notJSONObject, field: nil, detail: "line of \(length) bytes exceeds the limit"))
        })
        let digest = reader.contentDigest()!
        // Users this file wrote (each user's row now carries this snapshot).
        let users = Int(try db.scalarInt("SELECT count(*) FROM user_features WHERE snapshot = ?", [.int(snap)]) ?? 0)
        var report = FeatureIngestReport(path: file, digest: digest, snapshot: nil, records: records, users: users, rejections: rejections)
        if try db.scalarInt("SELECT snapshot FROM feature_snapshots WHERE sha256 = ?", [.blob(digest.bytes)]) != nil {
            // The deferred rollback undoes the writes: a no-op, whose bad records were quarantined
            // when the content was first ingested.
            report.rejections = []
            return report
        }
        if report.badFraction > maxBadFraction {
            report.rejected = "\(rejections.count) of \(records + rejections.count) records bad (limit \(maxBadFraction))"
            return report
        }
        try db.prepare("INSERT INTO feature_snapshots(snapshot, sha256, path, records, quarantined, ingested_at) VALUES (?,?,?,?,?,?)")
            .run([.int(snap), .blob(digest.bytes), .text(file), .int(Int64(records)), .int(Int64(rejections.count)), .int(wallClockSeconds())])
        try db.execute("COMMIT")
        open = false
        report.snapshot = snap
        return report
    }

    /// Whether a features file of this content was ingested as a snapshot.
    public func hasFeatureSnapshot(_ digest: Digest32) throws(StoreError) -> Bool {
        try db.scalarInt("SELECT snapshot FROM feature_snapshots WHERE sha256 = ?", [.blob(digest.bytes)]) != nil
    }

    /// The user's feature record, if any.
    public func features(_ user: UInt64) throws(StoreError) -> UserFeatures? {
        let s = try statements().features
        defer { s.reset() }
        try s.bind([.int(user.bitcastSigned)])
        guard try s.step() else { return nil }
        do {
            return UserFeatures(userID: user, snapshot: s.int64(0), fields: try FeatureRecord.unpack(s.blob(1)))
        } catch {
            throw StoreError(path: path, message: "user \(user) features: \(error)")
        }
    }
}

/// Parsing and packing of one feature record.
enum FeatureRecord {
    struct Parsed {
        var userID: UInt64
        var packed: [UInt8]
    }

    static func parse(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int) -> Result<Parsed, Rejection> {
        func reject(_ r: ReasonCode, _ f: String?, _ d: String) -> Result<Parsed, Rejection> {
            .failure(Rejection(line: lineNumber, reason: r, field: f, detail: d))
        }
        let v: JSONValue
        do { v = try JSONValue.parse(line) } catch {
            switch error {
            case .invalidUTF8, .loneSurrogate: return reject(.invalidUTF8, nil, error.description)
            case let .duplicateKey(k, _): return reject(.duplicateKey, k, error.description)
            default: return reject(.notJSONObject, nil, error.description)
            }
        }
        guard case let .object(members) = v else { return reject(.notJSONObject, nil, "not an object") }
        var user: UInt64?
        var fields: [(name: [UInt8], value: FeatureValue)] = []
        for (key, value) in members {
            let name = String(decoding: key, as: UTF8.self)
            if key == Array("user_id".utf8) {
                guard case let .number(n) = value else { return reject(.wrongType, "user_id", "user_id must be an integer") }
                switch n.integer {
                case let .value(neg, mag) where !neg || mag == 0: user = mag
                case .value, .tooLarge: return reject(.integerOutOfRange, "user_id", "user_id must be an unsigned 64-bit integer")
                case .notIntegral: return reject(.wrongType, "user_id", "user_id must be an integer")
                }
                continue
            }
            switch value {
            case .null: continue
            case let .string(b): fields.append((key, .categorical(b)))
            case let .number(n):
                let d = n.double
                guard d.isFinite else { return reject(.badMetadata, name, "\(name) must be a finite number") }
                fields.append((key, .dense(d)))
            default:
                return reject(.wrongType, name, "\(name) must be a string, a number or null")
            }
        }
        guard let user else { return reject(.missingField, "user_id", "required field user_id is absent") }
        fields.sort { $0.name.lexicographicallyPrecedes($1.name) }
        return .success(Parsed(userID: user, packed: pack(fields)))
    }

    /// `[count varint] then per field: [name len varint][name][kind u8: 0 categorical, 1 dense][len varint + bytes | f64 bits]`.
    static func pack(_ fields: [(name: [UInt8], value: FeatureValue)]) -> [UInt8] {
        var w = ByteWriter()
        w.varint(UInt64(fields.count))
        for (name, value) in fields {
            w.varint(UInt64(name.count))
            w.bytes(name)
            switch value {
            case let .categorical(b): w.byte(0); w.varint(UInt64(b.count)); w.bytes(b)
            case let .dense(d): w.byte(1); w.u64(d.bitPattern)
            }
        }
        return w.out
    }

    static func unpack(_ blob: UnsafeRawBufferPointer) throws(PackedFormatError) -> [(name: [UInt8], value: FeatureValue)] {
        var r = ByteReader(blob)
        let n = try r.varint()
        guard n <= UInt64(blob.count) else { throw PackedFormatError(message: "feature record count is inconsistent") }
        var out: [(name: [UInt8], value: FeatureValue)] = []
        for _ in 0..<n {
            let name = try r.bytes(Int(clamping: try r.varint()))
            switch try r.byte() {
            case 0: out.append((name, .categorical(try r.bytes(Int(clamping: try r.varint())))))
            case 1: out.append((name, .dense(Double(bitPattern: try r.u64()))))
            default: throw PackedFormatError(message: "unknown feature kind")
            }
        }
        guard r.offset == blob.count else { throw PackedFormatError(message: "feature record has trailing bytes") }
        return out
    }
}

extension UserFeatures {
    /// Parses one feature record line exactly as feature ingest does (for inputs that do not come
    /// from a store, such as a checkpoint's self-test cases).
    public static func parse(_ line: [UInt8], snapshot: Int64 = 0) -> Result<UserFeatures, Rejection> {
        line.withUnsafeBufferPointer { p in
            switch FeatureRecord.parse(p, lineNumber: 1) {
            case let .failure(r): return .failure(r)
            case let .success(rec):
                // Unpacking what was just packed cannot fail; a failure would be a packing bug.
                let fields = rec.packed.withUnsafeBytes { try? FeatureRecord.unpack($0) }
                return .success(UserFeatures(userID: rec.userID, snapshot: snapshot, fields: fields!))
            }
        }
    }
}
