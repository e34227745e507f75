import Foundation

// pthkit-fuzz: feeds mutated fixtures to one parser. See Scripts/fuzz.sh, which builds and runs it.
//
// Built normally it is a deterministic mutation driver. Built with `-sanitize=fuzzer` and
// `-DPTHKIT_LIBFUZZER`, the same targets run under libFuzzer (coverage-guided; the target is named by
// PTHKIT_FUZZ_TARGET, every argument goes to libFuzzer).

#if PTHKIT_LIBFUZZER
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

_ = libFuzzerTarget  // an unknown PTHKIT_FUZZ_TARGET stops here, before libFuzzer starts
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
#else
do {
    let options = try DriverOptions(parsing: Array(CommandLine.arguments.dropFirst()))
    try MutationDriver(options: options).run()
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(2)
}
#endif
