import CLibCrypto

/// SHA-256 by OpenSSL's libcrypto (SHA-NI or AVX2 code paths chosen at run time), for the digests
/// `pthkit inspect --json` prints and for checking official weight files.
public enum SHA256 {
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { digest($0) }
    }

    public static func digest(_ buffer: UnsafeRawBufferPointer) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        // EVP_Digest fails only when out of memory for its context; the all-zero result then
        // matches no real digest, so a check against it fails rather than passes.
        _ = output.withUnsafeMutableBufferPointer { out in
            EVP_Digest(buffer.baseAddress, buffer.count, out.baseAddress, &length, EVP_sha256(), nil)
        }
        return output
    }

    public static func hexDigest(_ bytes: [UInt8]) -> String {
        hex(digest(bytes))
    }

    public static func hexDigest(_ buffer: UnsafeRawBufferPointer) -> String {
        hex(digest(buffer))
    }

    /// A digest fed in parts (a mapped file, chunk by chunk, each let go after it is hashed).
    public final class Stream {
        private let context = EVP_MD_CTX_new()

        public init() {
            EVP_DigestInit_ex(context, EVP_sha256(), nil)
        }

        deinit { EVP_MD_CTX_free(context) }

        public func update(_ buffer: UnsafeRawBufferPointer) {
            EVP_DigestUpdate(context, buffer.baseAddress, buffer.count)
        }

        /// The hex digest of everything fed so far; all zeros (matching no real digest) if the
        /// context could not be made.
        public func hexDigest() -> String {
            var output = [UInt8](repeating: 0, count: 32)
            var length: UInt32 = 0
            if context != nil { _ = output.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) } }
            return hex(output)
        }
    }

    private static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: digest.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }
}
