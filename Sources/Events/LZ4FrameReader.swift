import CLZ4
import Support
#if canImport(Glibc)
import Glibc
#endif

/// Reads a file of concatenated LZ4 frames (and skippable frames) one block at a time, decoding each
/// block with liblz4's block decoder straight into the caller's buffer. The frame layer — headers,
/// block sizes, linked blocks, the header, block and content checksums, the content size — is
/// handled here, from the LZ4 frame format description.
///
/// Why not liblz4's frame API: it verifies the content checksum with the distribution's SSE2 XXH32
/// (a seventh of the read stage), and hands the content checksum no chance to be computed while the
/// block is still in cache. Here the caller decides when the produced bytes are hashed
/// (`absorb`), so it can hash each slice of a block just before parsing it.
///
/// Contract: after `nextBlock` returns `n` bytes, the caller passes exactly those bytes, in order,
/// to `absorb` before calling `nextBlock` again.
final class LZ4FrameReader {
    private let file: InputFile
    /// Compressed input: `input[pos..<end]` is read but not yet consumed.
    private let input: UnsafeMutableRawPointer
    private let inputCapacity: Int
    private var pos = 0, end = 0
    /// The file offset of `input[0]`: bytes consumed and moved out of the buffer before it.
    private var consumed = 0
    private var atEOF = false

    private var inFrame = false
    private var blockMax = 0
    private var independent = true
    private var blockChecksums = false
    private var contentChecksum = false
    private var contentSize: UInt64?
    private var produced: UInt64 = 0
    private var hash = XXH32()
    /// Linked-block frames: the last 64 KiB of the frame's output, the next block's dictionary.
    private var history: UnsafeMutableRawPointer?
    private var historyCount = 0

    /// The largest block any frame may declare; the caller's buffer must hold this much.
    static let maxBlockBytes = 4 << 20
    private static let historyBytes = 64 << 10
    /// Bytes read beyond the next block's need: one `read` per this much compressed input.
    private static let readAhead = 1 << 20

    /// - Parameter prefix: bytes already read from the start of the file (they are consumed first).
    init(file: InputFile, prefix: UnsafeRawBufferPointer) {
        self.file = file
        inputCapacity = LZ4FrameReader.maxBlockBytes + (1 << 20)
        input = UnsafeMutableRawPointer.allocate(byteCount: inputCapacity, alignment: 64)
        precondition(prefix.count <= inputCapacity)
        if prefix.count > 0 { input.copyMemory(from: prefix.baseAddress!, byteCount: prefix.count) }
        end = prefix.count
    }

    deinit {
        input.deallocate()
        history?.deallocate()
    }

    /// Makes at least `n` unconsumed bytes available at `pos`; false if the file ends first.
    private func ensure(_ n: Int) throws(LogReadErrorCause) -> Bool {
        if end - pos >= n { return true }
        if pos > 0 {
            memmove(input, input + pos, end - pos)
            end -= pos
            consumed += pos
            pos = 0
        }
        while end < n && !atEOF {
            // Read what is needed plus a bounded read-ahead, not to the buffer's capacity: only the
            // pages written become resident, so the buffer costs a compressed block plus the
            // read-ahead whatever the file's size (reading to capacity made large files cost 3 MB
            // more than small ones, docs/performance.md).
            let count = min(inputCapacity - end, max(n - end, LZ4FrameReader.readAhead))
            let got: Int
            do { got = try file.read(into: UnsafeMutableRawBufferPointer(start: input + end, count: count)) }
            catch { throw .io(error) }
            if got == 0 { atEOF = true } else { end += got }
        }
        return end - pos >= n
    }

    @inline(__always)
    private func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: (input + at).loadUnaligned(as: UInt32.self)) }

    /// Decodes the next block of content into `dst` (room for `maxBlockBytes`); returns its length,
    /// or nil at the end of the file (which must fall between frames). Empty blocks are skipped.
    /// Fewer than four bytes after a complete frame are trailing bytes, not a frame begun.
    func nextBlock(into dst: UnsafeMutableRawPointer) throws(LogReadErrorCause) -> Int? {
        while true {
            if !inFrame {
                guard try ensure(4) else {
                    if end > pos { throw .trailing(offset: consumed + pos) }
                    return nil
                }
                try startFrame()
                continue
            }
            guard try ensure(4) else { throw .truncated }
            let word = u32(pos)
            if word == 0 {
                try endFrame()
                continue
            }
            let stored = word & 0x8000_0000 != 0
            let size = Int(word & 0x7FFF_FFFF)
            guard size <= blockMax else { throw .corrupt("block larger than the frame's maximum block size") }
            let total = 4 + size + (blockChecksums ? 4 : 0)
            guard try ensure(total) else { throw .truncated }
            let src = input + pos + 4
            if blockChecksums {
                guard XXH32.hash(UnsafeRawBufferPointer(start: src, count: size)) == u32(pos + 4 + size) else {
                    throw .corrupt("block checksum mismatch")
                }
            }
            let n: Int
            if stored {
                dst.copyMemory(from: src, byteCount: size)
                n = size
            } else if independent || historyCount == 0 {
                let r = LZ4_decompress_safe(src.assumingMemoryBound(to: CChar.self), dst.assumingMemoryBound(to: CChar.self),
                                            Int32(size), Int32(blockMax))
                guard r >= 0 else { throw .corrupt("corrupt compressed block") }
                n = Int(r)
            } else {
                let r = LZ4_decompress_safe_usingDict(src.assumingMemoryBound(to: CChar.self), dst.assumingMemoryBound(to: CChar.self),
                                                      Int32(size), Int32(blockMax),
                                                      UnsafePointer(history!.assumingMemoryBound(to: CChar.self)), Int32(historyCount))
                guard r >= 0 else { throw .corrupt("corrupt compressed block") }
                n = Int(r)
            }
            pos += total
            produced &+= UInt64(n)
            if !independent { remember(dst, n) }
            if n > 0 { return n }
        }
    }

    /// Hashes produced content into the frame's content checksum (see the type's contract).
    @inline(__always)
    func absorb(_ p: UnsafeRawPointer, count: Int) {
        if contentChecksum { hash.update(p, count: count) }
    }

    /// Parses a frame header (or skips a skippable frame) at `pos`.
    private func startFrame() throws(LogReadErrorCause) {
        let magic = u32(pos)
        if magic >= LZ4Magic.skippableLow && magic <= LZ4Magic.skippableHigh {
            guard try ensure(8) else { throw .truncated }
            var skip = Int(u32(pos + 4))
            pos += 8
            while skip > 0 {
                let here = min(skip, end - pos)
                pos += here
                skip -= here
                if skip > 0 { guard try ensure(1) else { throw .truncated } }
            }
            return
        }
        guard magic == LZ4Magic.frame else {
            let hex = String(magic, radix: 16, uppercase: true)
            throw .corrupt("unknown frame magic 0x\(String(repeating: "0", count: 8 - hex.count) + hex) at offset \(consumed + pos)")
        }
        guard try ensure(7) else { throw .truncated }
        let flg = input.load(fromByteOffset: pos + 4, as: UInt8.self)
        let bd = input.load(fromByteOffset: pos + 5, as: UInt8.self)
        guard flg >> 6 == 1 else { throw .corrupt("unsupported frame version") }
        guard flg & 0x02 == 0, bd & 0x8F == 0 else { throw .corrupt("reserved frame header bits set") }
        let sizeID = Int(bd >> 4)
        guard sizeID >= 4 else { throw .corrupt("invalid maximum block size") }
        let hasSize = flg & 0x08 != 0, hasDict = flg & 0x01 != 0
        let descriptor = 2 + (hasSize ? 8 : 0) + (hasDict ? 4 : 0)
        guard try ensure(4 + descriptor + 1) else { throw .truncated }
        let hc = UInt8(truncatingIfNeeded: XXH32.hash(UnsafeRawBufferPointer(start: input + pos + 4, count: descriptor)) >> 8)
        guard hc == input.load(fromByteOffset: pos + 4 + descriptor, as: UInt8.self) else {
            throw .corrupt("frame header checksum mismatch")
        }
        // A declared size of 0 means "unknown", as liblz4 reads it.
        let declared = hasSize ? UInt64(littleEndian: (input + pos + 6).loadUnaligned(as: UInt64.self)) : 0
        contentSize = declared == 0 ? nil : declared
        blockMax = 1 << (8 + 2 * sizeID)
        independent = flg & 0x20 != 0
        blockChecksums = flg & 0x10 != 0
        contentChecksum = flg & 0x04 != 0
        produced = 0
        hash = XXH32()
        historyCount = 0
        if !independent && history == nil {
            history = UnsafeMutableRawPointer.allocate(byteCount: LZ4FrameReader.historyBytes, alignment: 64)
        }
        pos += 4 + descriptor + 1
        inFrame = true
    }

    /// The end mark at `pos`: checks the content size and checksum.
    private func endFrame() throws(LogReadErrorCause) {
        pos += 4
        if let contentSize, contentSize != produced { throw .corrupt("content size differs from the frame header") }
        if contentChecksum {
            guard try ensure(4) else { throw .truncated }
            guard hash.digest() == u32(pos) else { throw .corrupt("content checksum mismatch") }
            pos += 4
        }
        inFrame = false
    }

    /// Keeps the last 64 KiB of a linked-block frame's output as the next block's dictionary.
    private func remember(_ p: UnsafeRawPointer, _ n: Int) {
        let room = LZ4FrameReader.historyBytes
        let h = history!
        if n >= room {
            h.copyMemory(from: p + (n - room), byteCount: room)
            historyCount = room
            return
        }
        let keep = min(historyCount, room - n)
        if keep < historyCount { memmove(h, h + (historyCount - keep), keep) }
        (h + keep).copyMemory(from: p, byteCount: n)
        historyCount = keep + n
    }
}

/// Why `LZ4FrameReader` stopped; `LogReader` names the file.
enum LogReadErrorCause: Error, CustomStringConvertible {
    case io(FileError)
    case corrupt(String)
    /// The file ends inside a frame.
    case truncated
    /// One to three bytes follow the last complete frame, at this file offset.
    case trailing(offset: Int)

    var description: String {
        switch self {
        case let .io(e): return e.description
        case let .corrupt(m): return m
        case .truncated: return "file ends inside a frame"
        case let .trailing(offset): return "trailing bytes after the last frame at offset \(offset)"
        }
    }
}
