import Support
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Files and locks")
struct FileTests {
    // MARK: - Messages

    @Test("a missing file is named once, with the operation and the system's reason")
    func aMissingFileIsNamedOnce() throws {
        let dir = TempDirectory()
        let path = dir.file("nope/config.json")
        #expect { try Files.readAll(path) } throws: { e in
            guard let e = e as? FileError else { return false }
            return e.description == "\(path): open failed: No such file or directory" && e.reason == "open failed: No such file or directory"
        }
    }

    @Test("a directory where a file is expected says so, whether read or mapped")
    func aDirectoryWhereAFileIsExpectedSaysSo() throws {
        let dir = TempDirectory()
        let d = dir.file("model.safetensors")
        try Files.makeDirectories(d)
        let opens: [() throws -> Void] = [{ _ = try InputFile(path: d) }, { _ = try MappedFile(path: d) }, { _ = try Files.readAll(d) }]
        for open in opens {
            #expect { try open() } throws: { e in
                "\(e)" == "\(d): is a directory, where a file is expected"
            }
        }
    }

    // MARK: - FileLock

    static let holderA = LockHolder(pipeline: "daily", pid: 4242, host: "node-a", startedAt: 1_700_000_000)
    static let holderB = LockHolder(pipeline: "bf", pid: 77, host: "b", startedAt: 1_700_000_500)

    @Test("holder line format")
    func holderLine() {
        #expect(FileTests.holderA.line == "pipeline=daily pid=4242 host=node-a started=2023-11-14T22:13:20Z")
        let me = LockHolder(pipeline: "p")
        #expect(me.pid == getpid())
        #expect(!me.host.isEmpty)
        #expect(me.startedAt > 1_600_000_000)
    }

    @Test("a second acquire times out after about the timeout and names the holder")
    func secondAcquireTimesOut() throws {
        let dir = TempDirectory()
        let path = dir.file("store.lock")
        var first: FileLock? = try FileLock.acquire(path: path, holder: FileTests.holderA, timeout: 0)
        #expect(first?.path == path)
        #expect(FileLock.readHolder(path: path) == FileTests.holderA.line)

        let timeout = 0.4
        let t0 = monotonicSeconds()
        do {
            _ = try FileLock.acquire(path: path, holder: FileTests.holderB, timeout: timeout, pollInterval: 0.02)
            Issue.record("second acquire succeeded while the first holds the lock")
        } catch {
            let elapsed = monotonicSeconds() - t0
            guard case let .timedOut(p, waited, holder) = error else {
                Issue.record("unexpected error \(error)"); return
            }
            #expect(p == path)
            #expect(holder == FileTests.holderA.line)
            #expect(waited >= timeout - 0.005 && waited < timeout + 1.0, "waited \(waited)")
            #expect(elapsed >= timeout && elapsed < timeout + 1.5, "elapsed \(elapsed)")
            #expect(error.description.contains("held by \(FileTests.holderA.line)"))
        }
        // The refused attempt did not overwrite the holder line.
        #expect(FileLock.readHolder(path: path) == FileTests.holderA.line)

        // timeout 0 tries exactly once and returns quickly.
        let t1 = monotonicSeconds()
        #expect(throws: LockError.self) { _ = try FileLock.acquire(path: path, holder: FileTests.holderB, timeout: 0) }
        #expect(monotonicSeconds() - t1 < 0.3)

        // Released: the next acquire succeeds at once and records its own holder.
        withExtendedLifetime(first) {}
        first = nil
        let t2 = monotonicSeconds()
        let second = try FileLock.acquire(path: path, holder: FileTests.holderB, timeout: 2)
        #expect(monotonicSeconds() - t2 < 0.5)
        // The shorter holder line replaced the longer one completely (the file was truncated).
        #expect(FileTests.holderB.line.utf8.count < FileTests.holderA.line.utf8.count)
        #expect(FileLock.readHolder(path: path) == FileTests.holderB.line)
        withExtendedLifetime(second) {}
    }

    @Test("a waiting acquire succeeds once the holder releases")
    func waitingAcquireSucceeds() throws {
        final class Shared: @unchecked Sendable {
            var lock: FileLock?
            var releasedAt = 0.0, waitStart = 0.0, waitEnd = 0.0
            var acquired = false
            var holder: String?
        }
        let dir = TempDirectory()
        let path = dir.file("wait.lock")
        let shared = Shared()
        shared.lock = try FileLock.acquire(path: path, holder: FileTests.holderA, timeout: 0)
        // Thread 0 waits for the lock; thread 1 releases it after 0.4 s. pthread_join orders the writes.
        runOnThreads(2) { k in
            if k == 0 {
                shared.waitStart = monotonicSeconds()
                let lock = try? FileLock.acquire(path: path, holder: FileTests.holderB, timeout: 10, pollInterval: 0.02)
                shared.waitEnd = monotonicSeconds()
                shared.acquired = lock != nil
                shared.holder = FileLock.readHolder(path: path)
                withExtendedLifetime(lock) {}
            } else {
                var req = timespec(tv_sec: 0, tv_nsec: 400_000_000)
                nanosleep(&req, nil)
                shared.releasedAt = monotonicSeconds()
                shared.lock = nil
            }
        }
        #expect(shared.acquired)
        #expect(shared.waitEnd >= shared.releasedAt, "acquired before the release")
        #expect(shared.waitEnd - shared.waitStart >= 0.3 && shared.waitEnd - shared.waitStart < 5,
                "waited \(shared.waitEnd - shared.waitStart)")
        #expect(shared.waitEnd - shared.releasedAt < 1, "took \(shared.waitEnd - shared.releasedAt) s after the release")
        #expect(shared.holder == FileTests.holderB.line)
        // The waiter's lock was dropped when its thread ended: the lock is free again.
        let again = try FileLock.acquire(path: path, holder: FileTests.holderA, timeout: 1)
        withExtendedLifetime(again) {}
    }

    @Test("a released lock leaves no holder line behind")
    func releaseClearsHolder() throws {
        let dir = TempDirectory()
        var lock: FileLock? = try FileLock.acquire(path: dir.file("h.lock"), holder: FileTests.holderA, timeout: 0)
        #expect(FileLock.readHolder(path: dir.file("h.lock")) == FileTests.holderA.line)
        lock = nil
        _ = lock
        #expect(FileLock.readHolder(path: dir.file("h.lock")) == nil)
    }

    @Test("locks on different paths are independent; lock files need an existing directory")
    func independentLocks() throws {
        let dir = TempDirectory()
        let a = try FileLock.acquire(path: dir.file("a.lock"), holder: FileTests.holderA, timeout: 0)
        let b = try FileLock.acquire(path: dir.file("b.lock"), holder: FileTests.holderB, timeout: 0)
        #expect(FileLock.readHolder(path: dir.file("a.lock")) == FileTests.holderA.line)
        #expect(FileLock.readHolder(path: dir.file("b.lock")) == FileTests.holderB.line)
        withExtendedLifetime((a, b)) {}
        do {
            _ = try FileLock.acquire(path: dir.file("missing/x.lock"), holder: FileTests.holderA, timeout: 0)
            Issue.record("lock in a missing directory succeeded")
        } catch {
            guard case let .io(e) = error else { Issue.record("unexpected \(error)"); return }
            #expect(e.code == ENOENT)
            #expect(e.operation == "open")
        }
        #expect(FileLock.readHolder(path: dir.file("nothing.lock")) == nil)
        dir.write("empty.lock", [])
        #expect(FileLock.readHolder(path: dir.file("empty.lock")) == nil)
        dir.write("lf.lock", text: "pipeline=x\n\n")
        #expect(FileLock.readHolder(path: dir.file("lf.lock")) == "pipeline=x")
        dir.write("newlines.lock", text: "\n\n")
        #expect(FileLock.readHolder(path: dir.file("newlines.lock")) == nil)
    }

    @Test("readHolder trims CRLF line endings")
    func readHolderCRLF() {
        let dir = TempDirectory()
        dir.write("crlf.lock", text: "pipeline=x\r\n")
        #expect(FileLock.readHolder(path: dir.file("crlf.lock")) == "pipeline=x")
        dir.write("crlf2.lock", text: "pipeline=x\r\n\n")
        #expect(FileLock.readHolder(path: dir.file("crlf2.lock")) == "pipeline=x")
    }

    // MARK: - Files

    @Test("writeAtomically writes, replaces, and leaves no temporary file")
    func writeAtomically() throws {
        let dir = TempDirectory()
        let path = dir.file("out.bin")
        let big = (0..<(1 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try Files.writeAtomically(path, big)
        #expect(try Files.readAll(path) == big)
        #expect(try Files.status(path).size == Int64(big.count))

        try Files.writeAtomically(path, Array("short".utf8))
        #expect(try Files.readAll(path) == Array("short".utf8))

        try Files.writeAtomically(path, [])
        #expect(try Files.readAll(path) == [])
        #expect(Files.exists(path))
        #expect(try Files.list(dir.path) == ["out.bin"])
    }

    @Test("writeAtomically failures report the operation and leave nothing behind")
    func writeAtomicallyFailures() throws {
        let dir = TempDirectory()
        do {
            try Files.writeAtomically(dir.file("missing/out.bin"), [1, 2, 3])
            Issue.record("write into a missing directory succeeded")
        } catch {
            #expect(error.operation == "open")
            #expect(error.code == ENOENT)
            #expect(error.description.contains("open failed"))
        }
        // The target is a non-empty directory: rename fails and the temporary file is removed.
        dir.write("target/inner", [9])
        do {
            try Files.writeAtomically(dir.file("target"), [1, 2, 3])
            Issue.record("write over a directory succeeded")
        } catch {
            #expect(error.operation == "rename")
            #expect(error.path == dir.file("target"))
        }
        #expect(try Files.list(dir.path) == ["target"])
        #expect(try Files.readAll(dir.file("target/inner")) == [9])
    }

    @Test("directories, listing, status and chunked reads")
    func filesHelpers() throws {
        let dir = TempDirectory()
        let nested = dir.file("a/b/c")
        try Files.makeDirectories(nested)
        try Files.makeDirectories(nested) // idempotent
        #expect(Files.isDirectory(nested))
        #expect(!Files.isDirectory(dir.file("a/b/c/none")))
        #expect(Files.parentDirectory("/x/y/z") == "/x/y")
        #expect(Files.parentDirectory("/x") == "/")
        #expect(Files.parentDirectory("name") == ".")
        #expect(Files.parentDirectory("rel/name") == "rel")

        for name in ["b", "a", "B", "é", "_", "10", "9"] { dir.write("list/\(name)", Array(name.utf8)) }
        #expect(try Files.list(dir.file("list")) == ["10", "9", "B", "_", "a", "b", "é"])
        #expect(throws: FileError.self) { _ = try Files.list(dir.file("nope")) }
        #expect(throws: FileError.self) { _ = try Files.readAll(dir.file("nope")) }
        #expect(throws: FileError.self) { _ = try Files.status(dir.file("nope")) }
        #expect(!Files.exists(dir.file("nope")))

        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 % 251) }
        let path = dir.write("data.bin", bytes)
        let f = try InputFile(path: path)
        #expect(try f.size() == bytes.count)
        var got: [UInt8] = []
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 7777, alignment: 1)
        defer { buf.deallocate() }
        while true {
            let n = try f.readFully(into: buf)
            got += buf[0..<n]
            if n < buf.count { break }
        }
        #expect(got == bytes)
        #expect(try f.read(into: buf) == 0)
    }

    @Test("monotonic and wall clocks")
    func clocks() throws {
        let a = monotonicSeconds()
        var req = timespec(tv_sec: 0, tv_nsec: 20_000_000)
        nanosleep(&req, nil)
        let b = monotonicSeconds()
        #expect(b - a >= 0.019 && b - a < 2)
        #expect(wallClockSeconds() > 1_700_000_000)
    }
}

/// Runs `body(k)` for k in 0..<count on that many OS threads at once (not the cooperative pool,
/// which may be too busy with other tests to run them in parallel) and waits for all of them.
func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Box { let run: () -> Void; init(_ run: @escaping () -> Void) { self.run = run } }
    var threads: [pthread_t] = []
    for k in 0..<count {
        let box = Unmanaged.passRetained(Box { body(k) }).toOpaque()
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { arg in
            let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            b.run()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed")
        threads.append(t)
    }
    for t in threads { pthread_join(t, nil) }
}

/// A lock-protected list of messages collected from several threads.
final class Messages: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var items: [String] = []
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func append(_ s: String) { pthread_mutex_lock(&mutex); items.append(s); pthread_mutex_unlock(&mutex) }
    var all: [String] { pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }; return items }
}

@Suite("Files under concurrency")
struct FileConcurrencyTests {
    @Test("concurrent writeAtomically calls to one path never fail and never leave a torn file")
    func concurrentWriters() throws {
        let dir = TempDirectory()
        let path = dir.file("shared.bin")
        let contents: [[UInt8]] = (0..<4).map { k in [UInt8](repeating: UInt8(0x41 + k), count: 200_000 + k * 1000) }
        try Files.writeAtomically(path, contents[0])
        let failures = Messages()
        runOnThreads(4) { k in
            for _ in 0..<30 {
                do throws(FileError) { try Files.writeAtomically(path, contents[k]) } catch { failures.append(error.description) }
                if let now = try? Files.readAll(path), !contents.contains(now) {
                    failures.append("torn file: \(now.count) bytes")
                }
            }
        }
        let all = failures.all
        #expect(all.isEmpty, "\(all.count) failures, first: \(all.first ?? ""), torn: \(all.filter { $0.hasPrefix("torn") }.count)")
        let final = try Files.readAll(path)
        #expect(contents.contains(final))
        #expect(try Files.list(dir.path) == ["shared.bin"])
    }
}
