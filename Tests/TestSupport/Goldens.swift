import Foundation

/// The committed parity goldens (written by reference/goldens.py): checkpoint directories with
/// `config.json`, `model.safetensors` and `selftest.json`.
public enum Goldens {
    public static func directory(_ name: String) -> String { Bundle.module.resourcePath! + "/Goldens/" + name }
}
