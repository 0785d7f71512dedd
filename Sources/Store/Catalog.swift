import Support

/// One catalog item as written by generators and importers.
public struct CatalogItem: Sendable, Equatable {
    public var itemID: UInt64
    public var text: String?
    public var vector: [Float]
    public init(itemID: UInt64, text: String?, vector: [Float]) {
        self.itemID = itemID
        self.text = text
        self.vector = vector
    }
}

/// The item catalog: a SQLite file of semantic vectors keyed by item id, naming the semantic model
/// that made them. Lookups are point reads through a bounded SQLite page cache (2 MiB; not
/// memory-mapped, whose touched pages would count in RSS and grow with the catalog), so the
/// catalog is never loaded whole into the heap; any SQLite client can grow it. Inside `reading`,
/// a bounded cache of recently read vectors (`VectorCache`) answers repeated items without SQLite;
/// it is emptied whenever another connection has committed to the file since it was filled.
///
/// Schema (docs/data.md): `catalog_meta(key, value)` with `format_version`, `semantic_model`,
/// `d_sem`; `items(item_id INTEGER PRIMARY KEY /* bit-cast u64 */, text TEXT, vector BLOB /* d_sem × f32 LE */)`.
public final class Catalog {
    public static let formatVersion: Int64 = 1
    public let path: String
    public let semanticModel: String
    public let dSem: Int
    private let db: Database
    private let lookup: Statement
    private let dataVersion: Statement
    private let cache: VectorCache
    /// The file's `data_version` the cache was filled at; the cache answers only inside `reading`.
    private var cachedVersion: Int64?
    private var inReading = false

    /// Opens an existing catalog for reading only (`Database.reading`: immutable on a file it
    /// cannot write), checking its format; refuses, naming what it is, a file that is not a catalog.
    public init(path: String) throws(StoreError) {
        db = try Database.reading(path, as: .catalog).db
        try db.execute("PRAGMA mmap_size = 0; PRAGMA cache_size = -2048")
        let meta = try Catalog.readMeta(db)
        guard meta["format_version"] == String(Catalog.formatVersion) else {
            throw StoreError(path: path, message: "catalog format_version \(meta["format_version"] ?? "absent"), expected \(Catalog.formatVersion)")
        }
        guard let model = meta["semantic_model"], !model.isEmpty else {
            throw StoreError(path: path, message: "catalog_meta.semantic_model is missing")
        }
        guard let d = meta["d_sem"].flatMap({ Int($0) }), d > 0, d <= 65536 else {
            throw StoreError(path: path, message: "catalog_meta.d_sem is missing or invalid")
        }
        self.path = path
        semanticModel = model
        dSem = d
        lookup = try db.prepare("SELECT vector FROM items WHERE item_id = ?")
        dataVersion = try db.prepare("PRAGMA data_version")
        cache = VectorCache(dSem: d)
    }

    private static func readMeta(_ db: Database) throws(StoreError) -> [String: String] {
        let s = try db.prepare("SELECT key, value FROM catalog_meta")
        var m: [String: String] = [:]
        while try s.step() { m[s.text(0)] = s.text(1) }
        return m
    }

    /// Runs `body` in one read transaction of the catalog: its lookups then take no lock each, and
    /// items read before are answered from the cache unless the file changed since.
    public func reading<T>(_ body: () throws -> T) throws -> T {
        if inReading { return try body() }
        return try db.reading {
            // Read inside the transaction, so it is the version of the snapshot the lookups see.
            defer { dataVersion.reset() }
            guard try dataVersion.step() else { throw StoreError(path: path, message: "PRAGMA data_version returned no row") }
            let version = dataVersion.int64(0)
            if version != cachedVersion { cache.removeAll() }
            cachedVersion = version
            inReading = true
            defer { inReading = false }
            return try body()
        }
    }

    /// Copies the item's semantic vector into `out` (d_sem floats); false if the item is not in the catalog.
    public func vector(for itemID: UInt64, into out: UnsafeMutableBufferPointer<Float>) throws(StoreError) -> Bool {
        precondition(out.count == dSem)
        guard inReading else { return try read(itemID, into: out) }
        if let found = cache.lookup(itemID, into: out) { return found }
        let found = try read(itemID, into: out)
        cache.insert(itemID, found ? UnsafeBufferPointer(out) : nil)
        return found
    }

    /// Lookups the cache has answered so far.
    var cacheHits: Int { cache.hits }

    /// The point read behind `vector(for:into:)`.
    private func read(_ itemID: UInt64, into out: UnsafeMutableBufferPointer<Float>) throws(StoreError) -> Bool {
        defer { lookup.reset() }
        try lookup.bind(1, itemID.bitcastSigned)
        guard try lookup.step() else { return false }
        let b = lookup.blob(0)
        guard b.count == dSem * 4 else {
            throw StoreError(path: path, message: "item \(itemID): vector has \(b.count) bytes, expected \(dSem * 4)")
        }
        for k in 0..<dSem {
            out[k] = Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)))
        }
        return true
    }

    /// The item's semantic vector, or nil if absent.
    public func vector(for itemID: UInt64) throws(StoreError) -> [Float]? {
        let p = UnsafeMutableBufferPointer<Float>.allocate(capacity: dSem)
        defer { p.deallocate() }
        return try vector(for: itemID, into: p) ? Array(p) : nil
    }

    public func count() throws(StoreError) -> Int { Int(try db.scalarInt("SELECT count(*) FROM items") ?? 0) }

    /// sha256 over the semantic model, d_sem and every item in id order: recorded by each run.
    public func contentHash() throws(StoreError) -> Digest32 {
        let h = SHA256Hasher()
        h.update(Array("llatte-catalog-v1\n\(semanticModel)\n\(dSem)\n".utf8))
        let s = try db.prepare("SELECT item_id, coalesce(text, ''), text IS NULL, vector FROM items ORDER BY item_id")
        while try s.step() {
            var id = UInt64(bitPattern: s.int64(0)).littleEndian
            withUnsafeBytes(of: &id) { h.update($0) }
            let t = Array(s.text(1).utf8)
            var n = UInt64(t.count).littleEndian | (s.int64(2) != 0 ? 1 << 63 : 0)
            withUnsafeBytes(of: &n) { h.update($0) }
            h.update(t)
            h.update(s.blob(3))
        }
        return h.finalize()
    }
}

/// A direct-mapped cache of item vectors, absences included, of about 4 MiB of vectors whatever the
/// catalog's size (at least 64 vectors): items repeat across users, and a hit is a copy instead of
/// a SQLite point read.
final class VectorCache {
    static let budgetBytes = 4 << 20
    let dSem: Int
    /// A power of two: as many vectors as fit the budget, between 64 and 16,384.
    let slots: Int
    /// Lookups answered from the cache so far (for tests and benches).
    private(set) var hits = 0
    /// Per slot: the item id, and 0 empty / 1 vector held / 2 known absent.
    private var keys: [UInt64]
    private var state: [UInt8]
    /// [slots][dSem]; a slot's row is read only after it was written (state 1), so it is left uninitialized.
    private let rows: UnsafeMutablePointer<Float>

    init(dSem: Int) {
        self.dSem = dSem
        var n = 64
        while n < 16_384 && 2 * n * dSem * 4 <= VectorCache.budgetBytes { n *= 2 }
        slots = n
        keys = [UInt64](repeating: 0, count: n)
        state = [UInt8](repeating: 0, count: n)
        rows = .allocate(capacity: n * dSem)
    }
    deinit { rows.deallocate() }

    @inline(__always) private func slot(_ itemID: UInt64) -> Int { Int(fmix64(itemID) & UInt64(slots - 1)) }

    /// Whether the item is in the catalog, its vector copied into `out`; nil when not cached.
    func lookup(_ itemID: UInt64, into out: UnsafeMutableBufferPointer<Float>) -> Bool? {
        let i = slot(itemID)
        guard state[i] != 0, keys[i] == itemID else { return nil }
        hits += 1
        if state[i] == 2 { return false }
        out.baseAddress!.update(from: rows + i * dSem, count: dSem)
        return true
    }

    /// Keeps the item's vector (nil: not in the catalog), replacing whatever held its slot.
    func insert(_ itemID: UInt64, _ vector: UnsafeBufferPointer<Float>?) {
        let i = slot(itemID)
        keys[i] = itemID
        if let vector {
            (rows + i * dSem).update(from: vector.baseAddress!, count: dSem)
            state[i] = 1
        } else {
            state[i] = 2
        }
    }

    func removeAll() {
        for i in state.indices { state[i] = 0 }
    }
}

/// Creates or grows a catalog file (generator, `llatte catalog import`).
public final class CatalogWriter {
    public let path: String
    public let semanticModel: String
    public let dSem: Int
    private let db: Database
    private let insert: Statement

    /// Opens `path` for writing, creating it with `semanticModel`/`dSem` if new; an existing catalog
    /// must name the same semantic model and d_sem (a growing catalog from one model is fine).
    public init(path: String, semanticModel: String, dSem: Int) throws(StoreError) {
        self.path = path
        self.semanticModel = semanticModel
        self.dSem = dSem
        db = try Database(path: path)
        try db.execute("""
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS catalog_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS items(item_id INTEGER PRIMARY KEY, text TEXT, vector BLOB NOT NULL);
            """)
        let existing = try db.scalarInt("SELECT count(*) FROM catalog_meta") ?? 0
        if existing == 0 {
            let s = try db.prepare("INSERT INTO catalog_meta(key, value) VALUES (?, ?)")
            try s.run([.text("format_version"), .text(String(Catalog.formatVersion))])
            try s.run([.text("semantic_model"), .text(semanticModel)])
            try s.run([.text("d_sem"), .text(String(dSem))])
        } else {
            let s = try db.prepare("SELECT value FROM catalog_meta WHERE key = ?")
            try s.bind([.text("semantic_model")])
            let model = try s.step() ? s.text(0) : ""
            s.reset()
            try s.bind([.text("d_sem")])
            let d = try s.step() ? s.text(0) : ""
            guard model == semanticModel, d == String(dSem) else {
                throw StoreError(path: path, message: "catalog was made by semantic model \(model) (d_sem \(d)); refusing items from \(semanticModel) (d_sem \(dSem))")
            }
        }
        insert = try db.prepare("INSERT OR REPLACE INTO items(item_id, text, vector) VALUES (?, ?, ?)")
    }

    /// Adds or replaces items in one transaction.
    public func add(_ items: [CatalogItem]) throws {
        try db.transaction {
            for it in items {
                guard it.vector.count == dSem else {
                    throw StoreError(path: path, message: "item \(it.itemID): vector has \(it.vector.count) values, expected d_sem = \(dSem)")
                }
                guard it.vector.allSatisfy({ $0.isFinite }) else {
                    throw StoreError(path: path, message: "item \(it.itemID): vector has a non-finite value")
                }
                try insert.bind(1, it.itemID.bitcastSigned)
                if let t = it.text { try insert.bind(2, t) } else { try insert.bindNull(2) }
                var bytes = [UInt8](repeating: 0, count: dSem * 4)
                for (k, f) in it.vector.enumerated() {
                    let bits = f.bitPattern.littleEndian
                    withUnsafeBytes(of: bits) { for j in 0..<4 { bytes[4 * k + j] = $0[j] } }
                }
                try insert.bind(3, bytes)
                try insert.step()
                insert.reset()
            }
        }
    }

    /// Folds the WAL into the main file so the catalog is a single self-contained file.
    public func close() throws(StoreError) {
        try db.execute("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
    }
}
