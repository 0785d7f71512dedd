import Foundation
import Testing
import TestSupport

/// The reference scripts run with reference/ first on Python's path: a script named like a standard
/// module (`signal.py`) would be imported in its place by torch and everything else, and break them.
@Suite struct ReferenceScriptsTests {
    @Test func noReferenceScriptShadowsAStandardModule() throws {
        let dir = TempDirectory()
        let root = StoreCommandTests.repoRoot + "/reference"
        let p = try ChildProcess("/usr/bin/env", ["python3", "-c", """
            import os, sys
            names = sorted(f[:-3] for f in os.listdir(sys.argv[1]) if f.endswith(".py"))
            print(f"{len(names)}|" + ",".join(n for n in names if n in sys.stdlib_module_names))
            """, root], outputPrefix: dir.file("names"))
        #expect(p.wait() == 0, "\(p.stderr)")
        let parts = p.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|", omittingEmptySubsequences: false)
        #expect((Int(parts.first ?? "") ?? 0) >= 5, "reference/ should hold its scripts: \(p.stdout)")
        #expect(parts.count == 2 && parts[1].isEmpty, "reference scripts named like standard modules: \(p.stdout)")
    }
}
