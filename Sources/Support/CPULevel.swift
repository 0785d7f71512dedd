/// The x86-64 feature level a build's encoder kernels may use, checked against the machine before
/// any kernel runs: a binary built for x86-64-v3 would otherwise die of SIGILL on an older CPU.
public enum CPULevel {
    /// The /proc/cpuinfo flags x86-64-v3 code may use (AVX, AVX2, FMA, BMI1/2, F16C, MOVBE, LZCNT).
    public static let x86_64_v3Flags = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm"]

    /// The CPU named for a measurement: the first `model name` of `cpuinfo` with its family and
    /// model numbers (a virtual machine may call a Zen 1 and a Zen 4 both "AMD EPYC"); nil when
    /// the file does not say.
    public static func modelName(cpuinfo path: String = "/proc/cpuinfo") -> String? {
        guard let bytes = try? Files.readAll(path) else { return nil }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        // The first value of `key` ("model" is not "model name").
        func field(_ key: String) -> String? {
            for line in lines {
                guard let colon = line.firstIndex(of: ":"),
                      line[..<colon].trimmingCharacters(in: " \t") == key else { continue }
                let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
                return value.isEmpty ? nil : String(value)
            }
            return nil
        }
        guard let name = field("model name") else { return nil }
        guard let family = field("cpu family"), let model = field("model") else { return name }
        return "\(name) (family \(family), model \(model))"
    }

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
