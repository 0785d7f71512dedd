/// The x86-64 feature level a build's encoder kernels may use, checked against the machine before
/// any kernel runs: a binary built for x86-64-v3 would otherwise die of SIGILL on an older CPU.
public enum CPULevel {
    /// The /proc/cpuinfo flags x86-64-v3 code may use (AVX, AVX2, FMA, BMI1/2, F16C, MOVBE, LZCNT).
    public static let x86_64_v3Flags = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm"]

    /// The flags of `required` that this CPU lacks, by the first `flags` line of `cpuinfo`; empty
    /// when the file cannot be read (nothing to check against).
    public static func missing(_ required: [String], cpuinfo path: String = "/proc/cpuinfo") -> [String] {
        guard let bytes = try? Files.readAll(path) else { return [] }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        let have = Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        return required.filter { !have.contains($0) }
    }
}
