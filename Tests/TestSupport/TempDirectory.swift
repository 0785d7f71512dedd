import Events
import Support
#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under /tmp for one test, removed on deinit.
public final class TempDirectory {
    public let path: String

    /// - Parameter parent: where to create it; `TempDirectory.inMemory` for fuzz inputs, written
    ///   thousands of times (fsync costs nothing there).
    public init(_ label: String = "llatte-test", under parent: String = "/tmp") {
        var template = Array("\(parent)/\(label)-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(p != nil, "mkdtemp failed")
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    deinit { TempDirectory.removeTree(path) }

    /// A RAM-backed directory for temp directories (/dev/shm), or /tmp where there is none.
    public static let inMemory = Files.isDirectory("/dev/shm") ? "/dev/shm" : "/tmp"

    /// `path/name`.
    public func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes bytes to `path/name` (creating parent directories) and returns the full path.
    @discardableResult
    public func write(_ name: String, _ bytes: [UInt8]) -> String {
        let full = file(name)
        try! Files.makeDirectories(Files.parentDirectory(full))
        try! Files.writeAtomically(full, bytes)
        return full
    }

    /// Writes bytes to `path/<name>`, the name given as raw bytes (a name that need not be UTF-8);
    /// its parent directories must exist.
    public func write(rawName: [UInt8], _ bytes: [UInt8]) {
        let full = Array(path.utf8) + [0x2F] + rawName
        let fd = (full + [0]).withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
        }
        precondition(fd >= 0, "cannot create the raw-named file")
        precondition(bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count)
        close(fd)
    }

    /// Writes bytes to `path/name` in place (see the static `overwrite`).
    @discardableResult
    public func overwrite(_ name: String, _ bytes: [UInt8]) -> String {
        let full = file(name)
        try! Files.makeDirectories(Files.parentDirectory(full))
        TempDirectory.overwrite(full, bytes)
        return full
    }

    /// Writes bytes to `path` in place, without `write`'s fsync and rename: for fuzz inputs,
    /// rewritten thousands of times, that no crash needs to find intact.
    public static func overwrite(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "open \(path): errno \(errno)")
        defer { close(fd) }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            precondition(n > 0 || errno == EINTR, "write \(path): errno \(errno)")
            if n > 0 { off += n }
        }
    }

    /// Writes text as-is.
    @discardableResult
    public func write(_ name: String, text: String) -> String { write(name, Array(text.utf8)) }

    /// Writes lines joined by "\n" (with a final newline), LZ4-frame compressed when `lz4`.
    @discardableResult
    public func writeLines(_ name: String, _ lines: [String], lz4: Bool = false) -> String {
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        return write(name, lz4 ? LZ4FrameWriter.compress(bytes) : bytes)
    }

    /// Removes a tree without following symbolic links: a link to a directory (tests link the
    /// repository's sample-data in) is unlinked, never descended into.
    static func removeTree(_ path: String) {
        guard let names = try? Files.list(path) else { unlink(PathSpelling.cString(path)); return }
        for n in names {
            let p = "\(path)/\(n)"
            var st = stat()
            if lstat(PathSpelling.cString(p), &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { removeTree(p) } else { unlink(PathSpelling.cString(p)) }
        }
        rmdir(PathSpelling.cString(path))
    }
}

/// Builds one event log line with the given fields (strings quoted, everything else as written).
public func eventLine(user: UInt64, id: String, ts: Int64, item: UInt64 = 7, type: String = "click",
                      surface: String = "feed", extra: String = "") -> String {
    "{\"event_id\":\(id),\"ts\":\(ts),\"user_id\":\(user),\"item_id\":\(item),\"type\":\"\(type)\",\"surface\":\"\(surface)\"\(extra)}"
}
