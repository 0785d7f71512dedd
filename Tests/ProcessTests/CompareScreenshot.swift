#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Support
import TestSupport

/// Screenshots of HTML reports by headless Chromium, kept in `.build/test-output/` for a person to
/// open after `swift test`, and what their pixels say (decoded by Python's standard library).
enum CompareScreenshot {
    static let outputDir = StoreCommandTests.repoRoot + "/.build/test-output"
    static let chromium = "/usr/bin/chromium"

    /// Why a screenshot could not be taken: a test fails with it, never skips.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Renders a page at 1280 × `height` into `outputDir/name.png`, with a copy of the page beside it
    /// as `name.html`; returns the PNG's path.
    static func render(html: String, name: String, height: Int = 3500) throws -> String {
        guard Files.exists(chromium) else {
            throw Failure(description: "headless Chromium is not installed at \(chromium): install the Debian package `chromium` (apt-get install chromium) to check the HTML reports")
        }
        try Files.makeDirectories(outputDir)
        let png = "\(outputDir)/\(name).png", page = "\(outputDir)/\(name).html"
        if URL(fileURLWithPath: html).standardizedFileURL.path != URL(fileURLWithPath: page).standardizedFileURL.path {
            try Files.writeAtomically(page, try Files.readAll(html))
        }
        unlink(png)
        let dir = TempDirectory("llatte-chromium")
        let browser = try ChildProcess("/usr/bin/timeout", ["120", chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                                           "--no-first-run", "--user-data-dir=" + dir.file("profile"), "--window-size=1280,\(height)",
                                                           "--screenshot=" + png, "file://" + page],
                                       environment: ["HOME": dir.path], outputPrefix: dir.file("chromium"))
        let status = browser.wait()
        guard status == 0, Files.exists(png) else {
            throw Failure(description: "chromium exited \(status) without a screenshot of \(page): \(browser.stderr.suffix(2000))")
        }
        return png
    }

    /// Width, height, distinct colours and the share of pixels unlike the top-left one of a PNG.
    static func stats(_ png: String) throws -> (width: Int, height: Int, distinctColors: Int, unlikeBackground: Double) {
        let dir = TempDirectory("llatte-png")
        let script = dir.write("png_stats.py", text: pngStats)
        let p = try ChildProcess("/usr/bin/env", ["python3", script, png], outputPrefix: dir.file("png"))
        let status = p.wait()
        let f = p.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
        guard status == 0, f.count == 4 else { throw Failure(description: "cannot decode \(png): \(p.stderr)") }
        return (Int(f[0]), Int(f[1]), Int(f[2]), f[3])
    }

    /// Distinct colours of a PNG: a blank page has one or two, a drawn report hundreds.
    static func distinctColors(_ png: String) throws -> Int { try stats(png).distinctColors }

    /// Prints `width height distinct_colours share_unlike_top_left` of an 8-bit RGB or RGBA PNG
    /// (non-interlaced, as Chromium writes), undoing the scanline filters.
    static let pngStats = #"""
        import struct, sys, zlib

        data = open(sys.argv[1], "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
        pos, idat = 8, b""
        while pos < len(data):
            n, kind = struct.unpack(">I4s", data[pos:pos + 8])
            body = data[pos + 8:pos + 8 + n]
            pos += 12 + n
            if kind == b"IHDR":
                width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            elif kind == b"IDAT":
                idat += body
        assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
        bpp = 3 if ctype == 2 else 4
        raw, stride = zlib.decompress(idat), width * bpp
        prev, rows = bytearray(stride), []
        for y in range(height):
            f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
            if f == 2:
                line = bytearray((a + b) & 255 for a, b in zip(line, prev))
            elif f in (1, 3, 4):
                for x in range(stride):
                    a = line[x - bpp] if x >= bpp else 0
                    b, c = prev[x], prev[x - bpp] if x >= bpp else 0
                    if f == 1:
                        line[x] = (line[x] + a) & 255
                    elif f == 3:
                        line[x] = (line[x] + (a + b) // 2) & 255
                    else:
                        p = a + b - c
                        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                        line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            rows.append(bytes(line))
            prev = line
        pixels = [row[x:x + 3] for row in rows for x in range(0, stride, bpp)]
        background = pixels[0]
        print(width, height, len(set(pixels)), sum(p != background for p in pixels) / len(pixels))
        """#
}
