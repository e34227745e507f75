import ArgumentParser
import PthKit

/// `--view-copy-allowance`: the one place a command makes a view dense on the file's word is
/// `convert` to safetensors; every other command keeps views as views (inspect, convert to .pth)
/// or copies as many values as the model's own parameters hold (load-check, run, classify, ...).
struct CheckpointLimitOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "MiB that tensor views (transposes, expanded views) written dense to a .safetensors OUT may take beyond their storages.",
        valueName: "MiB"))
    var viewCopyAllowance: Int = CheckpointLimits.defaultViewCopyAllowance >> 20

    var limits: CheckpointLimits {
        let (bytes, overflow) = max(0, viewCopyAllowance).multipliedReportingOverflow(by: 1 << 20)
        return CheckpointLimits(viewCopyAllowance: overflow ? Int.max : bytes)
    }
}
