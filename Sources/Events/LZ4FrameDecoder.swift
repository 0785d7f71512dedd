import CLZ4
import Support
#if canImport(Glibc)
import Glibc
#endif

/// Decodes a file of concatenated LZ4 frames (and skippable frames) with liblz4's frame decoder,
/// which checks the headers, block sizes, block and content checksums and the declared content
/// size. This layer only feeds it the file in bounded reads and names, with file offsets, what is
/// wrong between frames: an unknown magic, or a few stray bytes after the last frame.
final class LZ4FrameDecoder {
    private let file: InputFile
    /// The file's path, for the errors.
    private let path: String
    private let context: OpaquePointer
    /// Compressed input: `input[pos..<end]` is read but not yet decoded.
    private let input: UnsafeMutableRawPointer
    private var pos = 0, end = 0
    /// The file offset of `input[0]`.
    private var offset = 0
    private var atEOF = false
    /// Between two frames (or before the first): the next bytes must open a frame.
    private var betweenFrames = true
    /// Compressed bytes liblz4 asks for next (its hint): a whole block, header and checksum included.
    private var wanted = 0

    /// Compressed input held at most: the largest block (4 MiB) plus a read-ahead. Handing liblz4
    /// whole blocks lets it decode straight from here into the caller's buffer, never through its
    /// own block buffers (whose pages would then count in the resident size too).
    static let inputBytes = (4 << 20) + readAhead
    /// The smallest frame header (magic, flags, block size, header checksum).
    static let smallestHeader = 7
    /// Bytes read beyond what the next block needs: one `read` per this much compressed input.
    static let readAhead = 1 << 20

    /// - Parameter prefix: bytes already read from the start of the file (decoded first).
    init(file: InputFile, path: String, prefix: UnsafeRawBufferPointer) throws(LogReadError) {
        var ctx: OpaquePointer?
        guard LZ4F_isError(LZ4F_createDecompressionContext(&ctx, UInt32(LZ4F_VERSION))) == 0, let ctx else {
            throw .corruptFrame(path: path, message: "liblz4 could not create a decompression context")
        }
        self.file = file
        self.path = path
        context = ctx
        input = UnsafeMutableRawPointer.allocate(byteCount: max(LZ4FrameDecoder.inputBytes, prefix.count), alignment: 64)
        if prefix.count > 0 { input.copyMemory(from: prefix.baseAddress!, byteCount: prefix.count) }
        end = prefix.count
    }

    deinit {
        LZ4F_freeDecompressionContext(context)
        input.deallocate()
    }

    /// Reads more compressed input after what is left, at least `n` bytes unless the file ends
    /// first (only the pages written become resident); false at the end of the file.
    private func refill(_ n: Int = 1) throws(LogReadError) -> Bool {
        if atEOF { return false }
        if pos > 0 {
            memmove(input, input + pos, end - pos)
            end -= pos
            offset += pos
            pos = 0
        }
        let count = min(LZ4FrameDecoder.inputBytes - end, max(n, LZ4FrameDecoder.readAhead))
        let got: Int
        do { got = try file.readFully(into: UnsafeMutableRawBufferPointer(start: input + end, count: count)) }
        catch { throw .io(error) }
        if got < count { atEOF = true }
        end += got
        return got > 0
    }

    /// Decodes the next content into `dst` (room for `capacity` bytes, at least one 4 MiB block);
    /// returns its length, or nil at the end of the file (which must fall between frames).
    func next(into dst: UnsafeMutableRawPointer, capacity: Int) throws(LogReadError) -> Int? {
        while true {
            if betweenFrames {
                // A frame's magic is looked at here, so that what is wrong is named with its offset.
                while end - pos < 4, try refill() {}
                if end == pos { return nil }
                if end - pos < 4 { throw .trailingBytes(path: path, offset: offset + pos) }
                let magic = UInt32(littleEndian: (input + pos).loadUnaligned(as: UInt32.self))
                guard LZ4Magic.isLZ4(magic) else {
                    let hex = String(magic, radix: 16, uppercase: true)
                    let magic = String(repeating: "0", count: 8 - hex.count) + hex
                    throw .corruptFrame(path: path, message: "unknown frame magic 0x\(magic) at offset \(offset + pos)")
                }
                betweenFrames = false
            }
            if end - pos < max(wanted, 1) {
                let more = try refill(max(wanted, 1) - (end - pos))
                if !more && end == pos { throw .truncatedFrame(path: path) }
            }
            // Exactly what liblz4 asked for (a frame's smallest header first): one block a call,
            // decoded straight into `dst`, never spilling into liblz4's own buffers.
            var produced = capacity, taken = min(end - pos, wanted > 0 ? wanted : LZ4FrameDecoder.smallestHeader)
            let hint = LZ4F_decompress(context, dst, &produced, input + pos, &taken, nil)
            if LZ4F_isError(hint) != 0 { throw .corruptFrame(path: path, message: LZ4FrameDecoder.describe(hint)) }
            pos += taken
            wanted = hint
            if hint == 0 { betweenFrames = true }
            if produced > 0 { return produced }
        }
    }

    /// liblz4's error, in words.
    static func describe(_ code: Int) -> String {
        let name = String(cString: LZ4F_getErrorName(code))
        let known = [
            "ERROR_contentChecksum_invalid": "content checksum mismatch",
            "ERROR_blockChecksum_invalid": "block checksum mismatch",
            "ERROR_headerChecksum_invalid": "frame header checksum mismatch",
            "ERROR_frameSize_wrong": "content size differs from the frame header",
            "ERROR_decompressionFailed": "corrupt compressed block",
            "ERROR_maxBlockSize_invalid": "invalid maximum block size",
            "ERROR_reservedFlag_set": "reserved frame header bits set",
            "ERROR_headerVersion_wrong": "unsupported frame version",
            "ERROR_frameType_unknown": "unknown frame type",
        ]
        if let words = known[name] { return words }
        return (name.hasPrefix("ERROR_") ? name.dropFirst(6) : name[...]).split(separator: "_").joined(separator: " ")
    }
}
