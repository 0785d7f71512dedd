import CCrypto
import CLZ4
import CMalloc
#if canImport(Glibc)
import Glibc
#endif
import COpenBLAS
import CSQLite
import Testing

/// One smoke test per system library target: each calls straight into its C library.
@Suite("System libraries")
struct SystemLibraryTests {
    @Test("CSQLite: in-memory table round trip")
    func sqlite() throws {
        #expect(sqlite3_libversion_number() >= 3_035_000)
        var db: OpaquePointer?
        #expect(sqlite3_open(":memory:", &db) == SQLITE_OK)
        let handle = try #require(db)
        defer { sqlite3_close(handle) }

        #expect(sqlite3_exec(handle, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL)", nil, nil, nil) == SQLITE_OK)
        #expect(sqlite3_exec(handle, "INSERT INTO t (id, name, score) VALUES (1, 'one', 1.5), (2, 'two', 2.5)", nil, nil, nil) == SQLITE_OK)

        // A bound insert, with SQLITE_TRANSIENT (-1) so SQLite copies the text.
        var insert: OpaquePointer?
        #expect(sqlite3_prepare_v2(handle, "INSERT INTO t (id, name, score) VALUES (?, ?, ?)", -1, &insert, nil) == SQLITE_OK)
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        #expect(sqlite3_bind_int64(insert, 1, Int64.min) == SQLITE_OK)
        #expect(sqlite3_bind_text(insert, 2, "héllo", -1, transient) == SQLITE_OK)
        #expect(sqlite3_bind_double(insert, 3, -0.25) == SQLITE_OK)
        #expect(sqlite3_step(insert) == SQLITE_DONE)
        sqlite3_finalize(insert)
        #expect(sqlite3_changes(handle) == 1)

        var select: OpaquePointer?
        #expect(sqlite3_prepare_v2(handle, "SELECT id, name, score FROM t ORDER BY id", -1, &select, nil) == SQLITE_OK)
        defer { sqlite3_finalize(select) }
        var rows: [(Int64, String, Double)] = []
        while sqlite3_step(select) == SQLITE_ROW {
            let name = sqlite3_column_text(select, 1).map { String(cString: $0) } ?? "<null>"
            rows.append((sqlite3_column_int64(select, 0), name, sqlite3_column_double(select, 2)))
        }
        #expect(rows.count == 3)
        #expect(rows.map(\.0) == [Int64.min, 1, 2])
        #expect(rows.map(\.1) == ["héllo", "one", "two"])
        #expect(rows.map(\.2) == [-0.25, 1.5, 2.5])

        // Constraint violations surface as error codes.
        #expect(sqlite3_exec(handle, "INSERT INTO t (id, name) VALUES (1, 'dup')", nil, nil, nil) == SQLITE_CONSTRAINT)
    }

    @Test("CLZ4: frame and block round trips")
    func lz4() throws {
        var src: [UInt8] = []
        for i in 0..<100_000 { src.append(UInt8(truncatingIfNeeded: (i / 7) % 13 + (i % 3 == 0 ? 65 : 97))) }

        // Frame format.
        let bound = LZ4F_compressFrameBound(src.count, nil)
        var frame = [UInt8](repeating: 0, count: bound)
        let csize = LZ4F_compressFrame(&frame, frame.count, src, src.count, nil)
        #expect(LZ4F_isError(csize) == 0)
        #expect(csize > 0 && csize < src.count / 4, "compressed \(src.count) to \(csize)")
        frame.removeSubrange(csize...)
        #expect(Array(frame.prefix(4)) == [0x04, 0x22, 0x4D, 0x18]) // the LZ4 frame magic, little-endian

        var dctx: OpaquePointer?
        #expect(LZ4F_isError(LZ4F_createDecompressionContext(&dctx, UInt32(LZ4F_VERSION))) == 0)
        defer { LZ4F_freeDecompressionContext(dctx) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var consumed = 0
        var hint = 1
        while hint != 0 {
            var dstSize = chunk.count
            var srcSize = frame.count - consumed
            hint = frame.withUnsafeBytes { f in
                chunk.withUnsafeMutableBytes { c in
                    LZ4F_decompress(dctx, c.baseAddress, &dstSize, f.baseAddress! + consumed, &srcSize, nil)
                }
            }
            #expect(LZ4F_isError(hint) == 0)
            if LZ4F_isError(hint) != 0 { break }
            out += chunk[0..<dstSize]
            consumed += srcSize
            if srcSize == 0 && dstSize == 0 { break }
        }
        #expect(consumed == frame.count)
        #expect(out == src)

        // A corrupted frame is reported as an error, not decoded.
        var bad = frame
        bad[0] ^= 0xFF
        var dctx2: OpaquePointer?
        #expect(LZ4F_isError(LZ4F_createDecompressionContext(&dctx2, UInt32(LZ4F_VERSION))) == 0)
        defer { LZ4F_freeDecompressionContext(dctx2) }
        var dstSize = chunk.count
        var srcSize = bad.count
        let r = LZ4F_decompress(dctx2, &chunk, &dstSize, bad, &srcSize, nil)
        #expect(LZ4F_isError(r) != 0)

        // Block format.
        let cap = LZ4_compressBound(Int32(src.count))
        var block = [UInt8](repeating: 0, count: Int(cap))
        let n = src.withUnsafeBytes { s in
            block.withUnsafeMutableBytes { b in
                LZ4_compress_default(s.baseAddress!.assumingMemoryBound(to: CChar.self),
                                     b.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(src.count), cap)
            }
        }
        #expect(n > 0 && Int(n) < src.count / 4)
        var back = [UInt8](repeating: 0, count: src.count)
        let m = block.withUnsafeBytes { b in
            back.withUnsafeMutableBytes { o in
                LZ4_decompress_safe(b.baseAddress!.assumingMemoryBound(to: CChar.self),
                                    o.baseAddress!.assumingMemoryBound(to: CChar.self), n, Int32(src.count))
            }
        }
        #expect(m == Int32(src.count))
        #expect(back == src)
        // Decompressing into a too-small buffer fails safely.
        var small = [UInt8](repeating: 0, count: 100)
        let f = block.withUnsafeBytes { b in
            small.withUnsafeMutableBytes { o in
                LZ4_decompress_safe(b.baseAddress!.assumingMemoryBound(to: CChar.self),
                                    o.baseAddress!.assumingMemoryBound(to: CChar.self), n, 100)
            }
        }
        #expect(f < 0)
    }

    @Test("COpenBLAS: sgemm matches a hand loop")
    func openblas() {
        let m = 3, k = 4, n = 2
        let a: [Float] = [1, 2, 3, 4,
                          -1, 0.5, 2, -3,
                          0, 1, -2, 8]
        let b: [Float] = [1, -1,
                          2, 0,
                          0.25, 3,
                          -4, 2]
        var c = [Float](repeating: 100, count: m * n)
        var expected = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for p in 0..<k { s += a[i * k + p] * b[p * n + j] }
                expected[i * n + j] = s
            }
        }
        #expect(expected == [-10.25, 16, 12.5, 1, -30.5, 10])
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    1, a, Int32(k), b, Int32(n), 0, &c, Int32(n))
        for i in 0..<(m * n) { #expect(abs(c[i] - expected[i]) < 1e-5, "c[\(i)] = \(c[i]), want \(expected[i])") }

        // alpha and beta: C = 2·A·B + 0.5·C.
        var c2 = [Float](repeating: 4, count: m * n)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    2, a, Int32(k), b, Int32(n), 0.5, &c2, Int32(n))
        for i in 0..<(m * n) { #expect(abs(c2[i] - (2 * expected[i] + 2)) < 1e-5) }

        // Transposed B given as N×K.
        var bt = [Float](repeating: 0, count: k * n)
        for p in 0..<k { for j in 0..<n { bt[j * k + p] = b[p * n + j] } }
        var c3 = [Float](repeating: 0, count: m * n)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                    1, a, Int32(k), bt, Int32(k), 0, &c3, Int32(n))
        for i in 0..<(m * n) { #expect(abs(c3[i] - expected[i]) < 1e-5) }
    }

    @Test("CCrypto: EVP SHA-256 of \"abc\"")
    func crypto() throws {
        let abc: [UInt8] = Array("abc".utf8)
        var md = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        #expect(EVP_Digest(abc, abc.count, &md, &len, EVP_sha256(), nil) == 1)
        #expect(len == 32)
        let hex = md.prefix(Int(len)).map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined()
        #expect(hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")

        // The incremental API gives the same digest.
        let ctx = try #require(EVP_MD_CTX_new())
        defer { EVP_MD_CTX_free(ctx) }
        #expect(EVP_DigestInit_ex(ctx, EVP_sha256(), nil) == 1)
        #expect(EVP_DigestUpdate(ctx, abc, 1) == 1)
        #expect(EVP_DigestUpdate(ctx, Array(abc[1...]), 2) == 1)
        var md2 = [UInt8](repeating: 0, count: 32)
        var len2: UInt32 = 0
        #expect(EVP_DigestFinal_ex(ctx, &md2, &len2) == 1)
        #expect(len2 == 32)
        #expect(md2 == Array(md.prefix(32)))
    }

    @Test("CMalloc: malloc_trim returns freed pages from the middle of the heap")
    func mallocTrim() {
        // 4,000 blocks of 4 KiB with every 100th (and the last) kept: the freed ones lie between
        // live blocks, where only malloc_trim hands their pages back.
        var blocks = (0..<4000).map { _ in malloc(4096)! }
        for (i, b) in blocks.enumerated() { memset(b, 1, 4096); if i % 100 != 0 && i != 3999 { free(b) } }
        #expect(malloc_trim(0) == 1)
        for (i, b) in blocks.enumerated() where i % 100 == 0 || i == 3999 { free(b) }
        blocks.removeAll()
    }
}
