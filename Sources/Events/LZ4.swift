import CLZ4

/// The LZ4 frame magic (little-endian on disk) and the range of skippable-frame magics.
public enum LZ4Magic {
    public static let frame: UInt32 = 0x184D_2204
    public static let skippable: ClosedRange<UInt32> = 0x184D_2A50...0x184D_2A5F

    /// Whether 4 bytes start an LZ4 frame or a skippable frame.
    public static func isLZ4(_ first4: UInt32) -> Bool { first4 == frame || skippable.contains(first4) }
}

/// Compressed formats llatte does not read, known by the magic bytes that open them.
enum OtherCompression {
    static let magics: [(bytes: [UInt8], format: String)] = [
        ([0x02, 0x21, 0x4C, 0x18], "the LZ4 legacy format"),   // `lz4 -l`
        ([0x1F, 0x8B], "gzip"),
        ([0x28, 0xB5, 0x2F, 0xFD], "zstd"),
        ([0x42, 0x5A, 0x68], "bzip2"),                          // "BZh"
        ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "xz"),
    ]

    /// The format whose magic starts `head`, if any (no JSON line starts with these bytes).
    static func format(_ head: UnsafeRawBufferPointer) -> String? {
        magics.first { m in head.count >= m.bytes.count && zip(m.bytes, head).allSatisfy { $0 == $1 } }?.format
    }
}

/// LZ4 frame compression of whole buffers (generator and tests): one frame, content checksum on.
public enum LZ4FrameWriter {
    /// Compresses `input` into one LZ4 frame as the `lz4` tool writes by default: 4 MiB independent
    /// blocks and a content checksum (independent blocks decode straight into the reader's window).
    public static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = 0) -> [UInt8] {
        var prefs = LZ4F_preferences_t()
        prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        prefs.frameInfo.blockMode = LZ4F_blockIndependent
        prefs.frameInfo.blockSizeID = LZ4F_max4MB
        prefs.compressionLevel = level
        let bound = LZ4F_compressFrameBound(input.count, &prefs)
        var out = [UInt8](repeating: 0, count: bound)
        let n = out.withUnsafeMutableBytes { dst in
            LZ4F_compressFrame(dst.baseAddress, bound, input.baseAddress, input.count, &prefs)
        }
        precondition(LZ4F_isError(n) == 0, "LZ4F_compressFrame failed")
        out.removeSubrange(n...)
        return out
    }

    public static func compress(_ input: [UInt8], level: Int32 = 0) -> [UInt8] {
        input.withUnsafeBytes { compress($0, level: level) }
    }
}

/// LZ4 block compression for packed history records (the length lives in the record header).
public enum LZ4Block {
    public static func compress(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        var out = [UInt8](repeating: 0, count: max(bound, 1))
        let n = out.withUnsafeMutableBytes { dst in
            LZ4_compress_default(input.baseAddress?.assumingMemoryBound(to: CChar.self),
                                 dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                                 Int32(input.count), Int32(bound))
        }
        precondition(n > 0 || input.count == 0, "LZ4_compress_default failed")
        out.removeSubrange(Int(n)...)
        return out
    }

    /// Decompresses exactly `originalCount` bytes; nil if the block is corrupt or of another size.
    public static func decompress(_ input: UnsafeRawBufferPointer, originalCount: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: originalCount)
        if originalCount == 0 { return input.count <= 1 ? out : nil }
        let n = out.withUnsafeMutableBytes { dst in
            LZ4_decompress_safe(input.baseAddress!.assumingMemoryBound(to: CChar.self),
                                dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                                Int32(input.count), Int32(originalCount))
        }
        return n == originalCount ? out : nil
    }
}
