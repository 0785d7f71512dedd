import Support
import TestSupport
import Testing

/// The start-up check of a build's CPU level against the machine's flags.
@Suite struct CPULevelTests {
    @Test func namesTheFlagsTheCPULacks() {
        let dir = TempDirectory()
        let old = dir.write("old", Array("processor\t: 0\nflags\t\t: fpu sse sse2 avx fma\nbogomips\t: 4000\n\nprocessor\t: 1\nflags\t\t: fpu\n".utf8))
        #expect(CPULevel.missing(CPULevel.x86_64_v3Flags, cpuinfo: old) == ["avx2", "bmi1", "bmi2", "f16c", "movbe", "abm"])
        let new = dir.write("new", Array(("flags\t\t: " + CPULevel.x86_64_v3Flags.reversed().joined(separator: " ") + " sse4_2\n").utf8))
        #expect(CPULevel.missing(CPULevel.x86_64_v3Flags, cpuinfo: new).isEmpty)
        // Substrings do not count: "avx512f" is not "avx".
        let partial = dir.write("partial", Array("flags: avx512f avx2x fma\n".utf8))
        #expect(CPULevel.missing(["avx", "avx2", "fma"], cpuinfo: partial) == ["avx", "avx2"])
    }

    @Test func namesTheCPUWithItsFamilyAndModel() {
        let dir = TempDirectory()
        let vm = dir.write("vm", Array("processor\t: 0\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\nstepping\t: 1\n".utf8))
        #expect(CPULevel.modelName(cpuinfo: vm) == "AMD EPYC (family 25, model 17)")
        let bare = dir.write("bare", Array("model name : Some CPU\n".utf8))
        #expect(CPULevel.modelName(cpuinfo: bare) == "Some CPU")
        #expect(CPULevel.modelName(cpuinfo: dir.write("none", Array("flags: avx\n".utf8))) == nil)
    }

    @Test func anUnreadableCpuinfoChecksNothing() {
        #expect(CPULevel.missing(CPULevel.x86_64_v3Flags, cpuinfo: "/nonexistent/cpuinfo").isEmpty)
    }
}
