#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A child process of the tests (the `llatte` binary), started with posix_spawn and extra
/// environment variables; stdout and stderr go to files so the tests can read them.
public final class ChildProcess {
    public let pid: pid_t
    public let stdoutPath: String
    public let stderrPath: String
    private var status: Int32?

    /// The `llatte` executable built beside the test bundle.
    public static var llatte: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments.first { $0.hasSuffix(".xctest") } ?? CommandLine.arguments[0])
        return bundle.deletingLastPathComponent().appendingPathComponent("llatte").path
    }

    public convenience init(_ executable: String, _ arguments: [String], environment extra: [String: String] = [:], outputPrefix: String) throws {
        try self.init(executable, rawArguments: arguments.map { Array($0.utf8) }, environment: extra, outputPrefix: outputPrefix)
    }

    /// Arguments given as raw bytes: an argument need not be UTF-8 (a file name that is not).
    public init(_ executable: String, rawArguments arguments: [[UInt8]], environment extra: [String: String] = [:], outputPrefix: String) throws {
        stdoutPath = outputPrefix + ".out"
        stderrPath = outputPrefix + ".err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in extra { env[k] = v }
        let argv = [strdup(executable)] + arguments.map { a in (a + [0]).withUnsafeBufferPointer { p in p.withMemoryRebound(to: CChar.self) { strdup($0.baseAddress!) } } } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        // The child starts with no signal blocked, as it would from a shell, cron or a kubelet: the
        // test runner's threads block signals, and a blocked mask survives exec (a shell waiting in
        // `wait` would never see SIGTERM or SIGCHLD).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        var p: pid_t = 0
        let rc = posix_spawn(&p, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
        pid = p
    }

    /// Waits for the process; returns its exit code, or 128 + signal if a signal ended it.
    @discardableResult
    public func wait() -> Int32 {
        if let status { return status }
        var st: Int32 = 0
        while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
        let code: Int32 = (st & 0x7F) == 0 ? (st >> 8) & 0xFF : 128 + (st & 0x7F)
        status = code
        return code
    }

    /// Whether the process has ended (without blocking).
    public func hasExited() -> Bool {
        if status != nil { return true }
        var st: Int32 = 0
        let r = waitpid(pid, &st, WNOHANG)
        if r == pid {
            status = (st & 0x7F) == 0 ? (st >> 8) & 0xFF : 128 + (st & 0x7F)
            return true
        }
        return false
    }

    public func kill(_ sig: Int32 = SIGKILL) { _ = Glibc.kill(pid, sig) }

    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    /// stderr's bytes as written (`stderr` is empty when they are not UTF-8).
    public var stderrBytes: [UInt8] { (try? Array(Data(contentsOf: URL(fileURLWithPath: stderrPath)))) ?? [] }
    public var stdoutBytes: [UInt8] { (try? Array(Data(contentsOf: URL(fileURLWithPath: stdoutPath)))) ?? [] }
}
