import Foundation
import Support
import Testing
import TestSupport

/// The .npy writer: NumPy's format 1.0 byte for byte, the shape patched in at the end, staged files.
@Suite struct NpyWriterTests {
    func bytes(_ path: String) throws -> [UInt8] { try Files.readAll(path) }

    @Test func headerLayoutPaddingAndDataOfASmallArray() throws {
        let dir = TempDirectory()
        let w = try NpyWriter(path: dir.file("a.npy"), dtype: .int32, rowShape: [3])
        for v in Int32(-2)..<4 { try w.append(v) }
        #expect(try w.finish() == 2)
        try w.commit()
        let b = try bytes(dir.file("a.npy"))
        // Magic, version 1.0, header length 118 (u16 little-endian): data starts at byte 128.
        #expect(Array(b[0..<10]) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 118, 0])
        let dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }"
        #expect(String(decoding: b[10..<(10 + dict.utf8.count)], as: UTF8.self) == dict)
        #expect(b[(10 + dict.utf8.count)..<127].allSatisfy { $0 == 0x20 })
        #expect(b[127] == 0x0A)
        #expect(b.count == 128 + 6 * 4)
        #expect(Array(b[128..<136]) == [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])   // -2, -1 little-endian
        #expect(Array(b[148..<152]) == [3, 0, 0, 0])
    }

    @Test func theHeaderKeepsItsLengthWhateverTheRowCount() throws {
        let dir = TempDirectory()
        // A vector (shape `(n,)`) and a 3-d array, empty and with a seven-digit row count.
        for (name, rows) in [("empty", 0), ("many", 1_234_567)] {
            let v = try NpyWriter(path: dir.file("\(name)-v.npy"), dtype: .int8)
            let m = try NpyWriter(path: dir.file("\(name)-m.npy"), dtype: .int8, rowShape: [4, 16])
            let row = [UInt8](repeating: 7, count: 64)
            try row.withUnsafeBytes { r in
                for _ in 0..<rows {
                    try v.append(Int8(1))
                    try m.append(raw: r)
                }
            }
            #expect(try v.finish() == rows && m.finish() == rows)
            try v.commit(); try m.commit()
            let vb = try bytes(dir.file("\(name)-v.npy")), mb = try bytes(dir.file("\(name)-m.npy"))
            #expect(String(decoding: vb[10..<128], as: UTF8.self).hasPrefix("{'descr': '|i1', 'fortran_order': False, 'shape': (\(rows),), }"))
            #expect(String(decoding: mb[10..<128], as: UTF8.self).hasPrefix("{'descr': '|i1', 'fortran_order': False, 'shape': (\(rows), 4, 16), }"))
            #expect(vb[127] == 0x0A && mb[127] == 0x0A && vb.count == 128 + rows && mb.count == 128 + 64 * rows)
        }
        // Room for 21 digits, as NumPy reserves: a long row shape still fits a 64-byte multiple.
        let h = NpyWriter.header(dtype: .float32, shape: [Int.max, 1000, 1000, 1000])
        #expect(h.count % 64 == 0 && h.last == 0x0A)
    }

    @Test func theSameBytesAsNumpySaveAndATripBack() throws {
        let dir = TempDirectory()
        let u = try NpyWriter(path: dir.file("u8.npy"), dtype: .uint64)
        for v: UInt64 in [0, 1, 1 << 63, UInt64.max] { try u.append(v) }
        let i = try NpyWriter(path: dir.file("i8.npy"), dtype: .int64)
        for v: Int64 in [-1, Int64.min, Int64.max, 1_790_000_000] { try i.append(v) }
        let n = try NpyWriter(path: dir.file("i4.npy"), dtype: .int32)
        for v: Int32 in [0, -7, Int32.max] { try n.append(v) }
        let c = try NpyWriter(path: dir.file("i1.npy"), dtype: .int8, rowShape: [2, 3])
        for v in 0..<12 { try c.append(Int8(v * 23 - 128)) }
        let f = try NpyWriter(path: dir.file("f4.npy"), dtype: .float32, rowShape: [2])
        for v: Float in [0.5, -0.0, 1e-5, 3.4028235e38, 0.013626099, -7] { try f.append(v) }
        for w in [u, i, n, c, f] { try w.finish(); try w.commit() }
        let script = dir.write("same.py", text: """
            import io, sys
            import numpy as np
            d = sys.argv[1]
            arrays = {
                "u8": np.array([0, 1, 2**63, 2**64 - 1], dtype="<u8"),
                "i8": np.array([-1, -2**63, 2**63 - 1, 1790000000], dtype="<i8"),
                "i4": np.array([0, -7, 2**31 - 1], dtype="<i4"),
                "i1": (np.arange(12) * 23 - 128).astype("|i1").reshape(2, 2, 3),
                "f4": np.array([0.5, -0.0, 1e-5, 3.4028235e38, 0.013626099, -7], dtype="<f4").reshape(3, 2),
            }
            for name, a in arrays.items():
                mine = open(f"{d}/{name}.npy", "rb").read()
                buf = io.BytesIO()
                np.save(buf, a)
                loaded = np.load(f"{d}/{name}.npy")
                same = mine == buf.getvalue() and loaded.dtype == a.dtype and loaded.shape == a.shape and np.array_equal(loaded.view(np.uint8), a.view(np.uint8))
                print(name, "same" if same else f"DIFFERENT {loaded.dtype} {loaded.shape}")
            """)
        let p = try ChildProcess("/usr/bin/env", ["python3", script, dir.path], outputPrefix: dir.file("py"))
        #expect(p.wait() == 0, "python3 with numpy is needed (`python3 -m pip install numpy`, done by make test-deps): \(p.stderr)")
        #expect(p.stdout == "u8 same\ni8 same\ni4 same\ni1 same\nf4 same\n")
    }

    @Test func aStagedFileAppearsOnlyWhenCommittedAndIsRemovedOtherwise() throws {
        let dir = TempDirectory()
        var f: StagedFile? = try StagedFile(path: dir.file("out.bin"), bufferBytes: 64)
        try f!.write([UInt8](repeating: 1, count: 100))   // more than the buffer: written through
        try f!.write(littleEndian: UInt32(0x0403_0201))
        try f!.overwrite(at: 0, [9, 9])
        #expect(f!.size == 104 && !Files.exists(dir.file("out.bin")))
        try f!.finish()
        try f!.commit()
        #expect(try bytes(dir.file("out.bin")) == [9, 9] + [UInt8](repeating: 1, count: 98) + [1, 2, 3, 4])
        var g: StagedFile? = try StagedFile(path: dir.file("abandoned.bin"))
        try g!.write([1, 2, 3])
        let temp = g!.tempPath
        #expect(Files.exists(temp))
        g = nil
        f = nil
        #expect(!Files.exists(temp) && !Files.exists(dir.file("abandoned.bin")))
        #expect(try Files.list(dir.path) == ["out.bin"])
    }
}
