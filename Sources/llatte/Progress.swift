import Foundation
import Pipeline
import Support
#if canImport(Glibc)
import Glibc
#endif

/// Run progress on stderr: a redrawn bar on a terminal (stage, users done/total, users/s, ETA),
/// plain log lines every 10 seconds otherwise (cron, files), nothing when quiet.
final class ProgressDisplay: @unchecked Sendable {
    private let label: String
    private let quiet: Bool
    private let terminal = isatty(2) != 0
    private let lock = NSLock()
    private var lastDraw = -1.0
    private var drewBar = false

    init(label: String, quiet: Bool) {
        self.label = label
        self.quiet = quiet
    }

    func update(_ p: EncodeProgress) {
        if quiet { return }
        lock.lock(); defer { lock.unlock() }
        let interval = terminal ? 0.1 : 10
        if p.seconds - lastDraw < interval && p.considered < p.total { return }
        lastDraw = p.seconds
        let rate = Double(p.encoded) / max(p.seconds, 1e-9)
        let fraction = p.total > 0 ? Double(p.considered) / Double(p.total) : 1
        let eta = fraction > 0 ? p.seconds * (1 - fraction) / fraction : 0
        if terminal {
            let width = 24, filled = Int((fraction * Double(width)).rounded(.down))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = "\r\(label) encode [\(bar)] \(p.considered)/\(p.total) users · \(p.encoded) encoded · \(fixed(rate, 1)) users/s · ETA \(Int(eta.rounded()))s "
            FileHandle.standardError.write(Data(line.utf8))
            drewBar = true
        } else {
            logLine("\(label): \(p.considered)/\(p.total) users considered, \(p.selected) selected, \(p.encoded) encoded, \(p.written) written, \(fixed(rate, 1)) users/s, ETA \(Int(eta.rounded())) s")
        }
    }

    /// Ends the bar's line so later log lines start clean.
    func finish() {
        lock.lock(); defer { lock.unlock() }
        if drewBar { FileHandle.standardError.write(Data("\n".utf8)) }
        drewBar = false
    }
}
