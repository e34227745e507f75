import ArgumentParser
import PthKit

/// `--view-copy-allowance`: the places a command makes views dense on the file's word are
/// `inspect --json` (hashing them) and `convert` to safetensors; every other use keeps views as views
/// (inspect, convert to .pth) or copies as many values as the model's parameters hold (load-check,
/// run, classify, ...), which needs no allowance.
struct CheckpointLimitOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "MiB that tensor views (transposes, expanded views) made dense (hashed by inspect --json, written to .safetensors) may take beyond their storages.",
        valueName: "MiB"))
    var viewCopyAllowance: Int = CheckpointLimits.defaultViewCopyAllowance >> 20

    var limits: CheckpointLimits {
        let (bytes, overflow) = max(0, viewCopyAllowance).multipliedReportingOverflow(by: 1 << 20)
        return CheckpointLimits(viewCopyAllowance: overflow ? Int.max : bytes)
    }
}
