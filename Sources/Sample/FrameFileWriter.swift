import Events
import Support
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What was written into one LZ4 file.
public struct WrittenFile: Sendable, Equatable {
    /// Path relative to the output directory.
    public var path: String
    public var lines: Int
    public var uncompressedBytes: Int
    public var compressedBytes: Int
    public var frames: Int
    /// sha256 of the decompressed content: the key ingest's ledger uses for the file.
    public var contentSHA256: String
}

/// One frame's worth of whole lines, compressed later, possibly on another thread.
final class PendingFrame: @unchecked Sendable {
    let raw: [UInt8]
    let lines: Int
    private(set) var compressed: [UInt8]?

    init(raw: [UInt8], lines: Int) {
        self.raw = raw
        self.lines = lines
    }

    /// Compresses into one LZ4 frame with a content checksum; touches nothing but this frame.
    func compress() { compressed = LZ4FrameWriter.compress(raw) }
}

/// Streams lines into an LZ4-frame file: a frame each time `frameBytes` of lines have gathered (cut at
/// the last line end, so every frame holds whole lines), written to a temp file that is renamed into
/// place by `finish()`, so a reader never sees a half-written file under the final name.
///
/// Cutting, compressing and writing are separate steps so the generator can compress frames on worker
/// threads while it simulates the next users: `append` cuts frames, `framesToCompress` hands them out,
/// `writeCompressed` writes (and hashes) the compressed ones in order. Frame boundaries depend only on
/// the bytes appended, so the file is the same however the work was scheduled.
final class FrameFileWriter {
    let path: String
    let relativePath: String
    private let tmpPath: String
    private let frameBytes: Int
    private var fd: Int32
    private let pending: ByteBuffer
    /// Cut frames not yet written, in file order.
    private var frames: [PendingFrame] = []
    private var sealed = false
    private let hasher = SHA256Hasher()
    private var summary: WrittenFile

    init(directory: String, relativePath: String, frameBytes: Int) throws(SampleError) {
        self.relativePath = relativePath
        path = directory + "/" + relativePath
        tmpPath = path + ".tmp"
        self.frameBytes = frameBytes
        pending = ByteBuffer(capacity: frameBytes + (1 << 20))
        fd = open(PathSpelling.cString(tmpPath), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(FileError(path: tmpPath, operation: "open", code: errno).description) }
        summary = WrittenFile(path: relativePath, lines: 0, uncompressedBytes: 0, compressedBytes: 0, frames: 0,
                              contentSHA256: "")
    }

    deinit {
        if fd >= 0 {
            close(fd)
            unlink(PathSpelling.cString(tmpPath))
        }
    }

    /// Appends complete lines, cutting a frame whenever `frameBytes` have gathered.
    func append(_ lines: ByteBuffer) {
        precondition(!sealed, "append after seal")
        guard !lines.isEmpty else { return }
        pending.append(lines)
        while pending.count >= frameBytes {
            // The last line end within the first `frameBytes` bytes (a line is far shorter than a frame).
            var cut = frameBytes
            while cut > 0 && pending.base[cut - 1] != 0x0A { cut -= 1 }
            precondition(cut > 0, "a line longer than a frame")
            // Lines in the frame = all pending lines minus those in the remainder.
            var rest = 0
            for i in cut..<pending.count where pending.base[i] == 0x0A { rest += 1 }
            cutFrame(count: cut, lines: pending.lines - rest)
        }
    }

    /// Ends the file's content: the remainder becomes the last frame (an empty file gets one empty frame).
    func seal() {
        guard !sealed else { return }
        if !pending.isEmpty || summary.frames + frames.count == 0 { cutFrame(count: pending.count, lines: pending.lines) }
        sealed = true
    }

    private func cutFrame(count: Int, lines: Int) {
        frames.append(PendingFrame(raw: Array(UnsafeRawBufferPointer(start: pending.base, count: count)), lines: lines))
        pending.removeFirst(count, lines: lines)
    }

    /// Frames cut but not compressed yet (for worker threads; each frame is independent).
    var framesToCompress: [PendingFrame] { frames.filter { $0.compressed == nil } }

    /// Sealed and everything written: ready for `finish()`.
    var isComplete: Bool { sealed && frames.isEmpty }

    /// Writes the leading compressed frames, in order, and hashes their content.
    func writeCompressed() throws(SampleError) {
        while let f = frames.first, let frame = f.compressed {
            hasher.update(f.raw)
            var off = 0
            while off < frame.count {
                let n = frame.withUnsafeBytes { write(fd, $0.baseAddress! + off, frame.count - off) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw .io(FileError(path: tmpPath, operation: "write", code: errno).description)
                }
                off += n
            }
            summary.lines += f.lines
            summary.uncompressedBytes += f.raw.count
            summary.compressedBytes += frame.count
            summary.frames += 1
            frames.removeFirst()
        }
    }

    /// Seals, compresses and writes whatever is left, closes and renames the file into place.
    func finish() throws(SampleError) -> WrittenFile {
        seal()
        let todo = framesToCompress
        parallelFor(todo.count) { todo[$0].compress() }
        try writeCompressed()
        precondition(frames.isEmpty)
        let rc = close(fd)
        fd = -1
        guard rc == 0 else { throw .io(FileError(path: tmpPath, operation: "close", code: errno).description) }
        guard rename(PathSpelling.cString(tmpPath), PathSpelling.cString(path)) == 0 else {
            let e = errno
            unlink(PathSpelling.cString(tmpPath))
            throw .io(FileError(path: path, operation: "rename", code: e).description)
        }
        summary.contentSHA256 = hasher.finalize().hex
        return summary
    }
}
