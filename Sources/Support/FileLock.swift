#if canImport(Glibc)
import Glibc
#endif

/// Who holds a store's lock: written into the lock file so a refused run can name its holder.
public struct LockHolder: Sendable, Equatable {
    public var pipeline: String
    public var pid: Int32
    public var host: String
    public var startedAt: Int64

    public init(pipeline: String, pid: Int32 = getpid(), host: String = LockHolder.hostName(), startedAt: Int64 = wallClockSeconds()) {
        self.pipeline = pipeline
        self.pid = pid
        self.host = host
        self.startedAt = startedAt
    }

    /// One line: `pipeline=… pid=… host=… started=…`.
    public var line: String { "pipeline=\(pipeline) pid=\(pid) host=\(host) started=\(iso8601UTC(startedAt))" }

    public static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "unknown" }
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

/// Why a lock could not be taken: another live process holds it, or the lock file cannot be
/// opened or locked at all. Only the first is "locked" (exit code 4, harmless when it does not
/// repeat); the second is a misconfiguration (exit code 1) that no retry fixes.
public enum LockError: Error, CustomStringConvertible, Sendable {
    /// Another process held the lock for the whole wait; `holder` is what it wrote, if readable.
    case timedOut(path: String, waited: Double, holder: String?)
    /// Opening or locking the lock file failed with something other than "held" (EWOULDBLOCK):
    /// permissions, a missing or read-only directory, a directory in its place, I/O.
    case io(FileError)

    /// Whether another process holds the lock (as opposed to the lock file being unusable).
    public var isHeld: Bool {
        if case .timedOut = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case let .timedOut(path, waited, holder):
            let who = holder.map { "held by \($0)" } ?? "holder unknown"
            return "lock \(path) is \(who); gave up after \(waited) s"
        case let .io(e): return "cannot use lock file \(e.description) (nobody holds it: check the file and its directory)"
        }
    }
}

/// An exclusive `flock` on a file beside a store; released when this value is deinitialized or
/// when the process dies (the kernel drops it), so a killed holder never leaves a stale lock.
public final class FileLock {
    public let path: String
    private let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit {
        // Clear the holder line first, so a later holder that writes none is not misnamed as us.
        _ = ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
    }

    /// Takes the lock, polling until `timeout` seconds have passed (0 = try once), then records `holder`.
    public static func acquire(path: String, holder: LockHolder, timeout: Double, pollInterval: Double = 0.05) throws(LockError) -> FileLock {
        let fd = open(PathSpelling.cString(path), O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(FileError(path: path, operation: "open", code: errno)) }
        let start = monotonicSeconds()
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            guard e == EWOULDBLOCK || e == EINTR else {
                close(fd)
                throw .io(FileError(path: path, operation: "flock", code: e))
            }
            let waited = monotonicSeconds() - start
            if waited >= timeout {
                close(fd)
                throw .timedOut(path: path, waited: (waited * 100).rounded() / 100, holder: readHolder(path: path))
            }
            let ns = Int(min(pollInterval, max(timeout - waited, 0.001)) * 1e9)
            var req = timespec(tv_sec: ns / 1_000_000_000, tv_nsec: ns % 1_000_000_000)
            nanosleep(&req, nil)
        }
        let text = Array((holder.line + "\n").utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return FileLock(path: path, fd: fd)
    }

    /// The holder line a lock file carries, if any.
    public static func readHolder(path: String) -> String? {
        guard let bytes = try? Files.readAll(path), !bytes.isEmpty else { return nil }
        let s = String(decoding: bytes, as: UTF8.self).trimmingSuffixNewlines()
        return s.isEmpty ? nil : s
    }
}

extension String {
    func trimmingSuffixNewlines() -> String {
        var s = Substring.UnicodeScalarView(unicodeScalars)
        while let last = s.last, last == "\n" || last == "\r" { s.removeLast() }
        return String(s)
    }
}
