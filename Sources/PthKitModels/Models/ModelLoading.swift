import Foundation
import PthKitCheckpoint

/// How a checkpoint is fitted to a model: which part of it, which key rewrites, how strict.
public struct LoadOptions: Sendable {
    /// Dotted path of the state dict inside the checkpoint (`state_dict`); nil picks it automatically.
    public var key: String?
    /// Prefixes removed from every key, such as DataParallel's `module.`.
    public var stripPrefixes: [String]
    public var renames: [RenameRule]
    public var strict: Bool
    /// Drop tensors whose shapes differ from the model's, then load non-strictly (transfer learning).
    public var dropMismatched: Bool
    /// Check the SHA-256 of a file that carries an official weight file's name (on by default;
    /// `--no-verify` turns it off, with a notice).
    public var verifyOfficialFiles: Bool
    /// A SHA-256 the file must match (or start with: at least 8 hex digits), whatever its name, as
    /// `torch.hub`'s `check_hash`; checked even when `verifyOfficialFiles` is off.
    public var sha256: String?
    /// Whether `load` waits for the hash (the default) or returns while it runs (`VerificationTiming`).
    public var verificationTiming: VerificationTiming
    /// Convert every tensor into arrays of the model's own instead of letting float32 parameters
    /// borrow the mapped file's bytes (`loadStateDict(_:strict:copyWeights:)`): for a file that may
    /// change, shrink or be deleted while the model is in use. Costs one copy of the weights.
    public var copyWeights: Bool
    /// Check the CRC-32 of every zip record read in place, as `torch.load` does not (see
    /// `Checkpoint.init(contents:file:limits:verifyChecksums:)`).
    public var verifyChecksums: Bool

    public init(
        key: String? = nil, stripPrefixes: [String] = [], renames: [RenameRule] = [], strict: Bool = true,
        dropMismatched: Bool = false, verifyOfficialFiles: Bool = true, sha256: String? = nil,
        verificationTiming: VerificationTiming = .beforeReturning, copyWeights: Bool = false,
        verifyChecksums: Bool = false
    ) {
        self.key = key
        self.stripPrefixes = stripPrefixes
        self.renames = renames
        self.strict = strict
        self.dropMismatched = dropMismatched
        self.verifyOfficialFiles = verifyOfficialFiles
        self.sha256 = sha256
        self.verificationTiming = verificationTiming
        self.copyWeights = copyWeights
        self.verifyChecksums = verifyChecksums
    }
}

/// A model built by name with a checkpoint loaded into it, and what happened on the way.
public struct LoadedModel: @unchecked Sendable {
    public let model: Module
    public let report: LoadReport
    /// Decisions made for the user that they should hear about (an automatically chosen key).
    public let notes: [String]
    /// Milliseconds spent reading the checkpoint and loading it into the model.
    public let loadMilliseconds: Double
    /// Class names that came with the checkpoint: its `NAME.classes.txt` (see `ClassNamesFile`), or a
    /// top-level `classes`, `class_names`, `labels` or `categories` list of strings inside it.
    public let labels: [String]?
    /// The file's SHA-256 check, still running, when it was loaded with `VerificationTiming.inBackground`;
    /// nil when there was nothing to check or it was checked before `load` returned.
    public let verification: WeightsVerification?

    public init(
        model: Module, report: LoadReport, notes: [String] = [], loadMilliseconds: Double = 0, labels: [String]? = nil,
        verification: WeightsVerification? = nil
    ) {
        self.model = model
        self.report = report
        self.notes = notes
        self.loadMilliseconds = loadMilliseconds
        self.labels = labels
        self.verification = verification
        if let verification { model.weightsGate.hold(until: verification.confirm) }
    }

    /// Waits for a background SHA-256 check and throws if the file failed it: call before using or
    /// showing anything computed from the model. Returns at once when there is nothing pending.
    public func confirmVerified() throws {
        try verification?.confirm()
    }
}

extension ModelZoo {
    /// Builds `name`, reads `weights` and loads it with `options`: the whole job of `pthkit load-check`.
    /// A `ClassNamesFile` beside the weights sets the class count unless `arguments` already does.
    public static func load(
        _ name: String, arguments: ModelArguments = ModelArguments(), weights: URL, options: LoadOptions = LoadOptions()
    ) throws -> LoadedModel {
        var notes: [String] = []
        var arguments = arguments
        let classNames = try ClassNamesFile.read(forWeights: weights)
        let classCount = classCountArgument(for: name)
        if let classNames, !arguments.contains(classCount) {
            arguments = arguments.setting(classCount, to: String(classNames.count))
            notes.append("\(classNames.count) classes from \(ClassNamesFile.url(forWeights: weights).lastPathComponent) (\(classCount)=\(classNames.count))")
        }
        let official = try ModelsManifest.embedded.officialWeights(fileName: weights.lastPathComponent)
        // torchvision builds some models for their weights (`_ovewrite_named_param`): vit_h_14's
        // default file holds a position embedding for 518x518 images, GoogLeNet's and Inception v3's
        // files expect transform_input.
        let ownOfficialFile = official.flatMap { $0.model == name ? $0.weights : nil }
        if let ownOfficialFile {
            for (argument, value) in (ownOfficialFile.arguments ?? [:]).sorted(by: { $0.key < $1.key })
            where !arguments.contains(argument) {
                arguments = arguments.setting(argument, to: value.description)
                notes.append("\(argument)=\(value) as torchvision builds \(name) for \(ownOfficialFile.name)")
            }
        }
        let model = try build(name, arguments: arguments)
        let start = DispatchTime.now()
        let (checkpoint, verification) = try readCheckpoint(
            weights, verify: options.verifyOfficialFiles, sha256: options.sha256, timing: options.verificationTiming,
            verifyChecksums: options.verifyChecksums, notes: &notes)
        do {
            var key = options.key
            if key == nil, let automatic = StateDict.automaticKey(in: checkpoint) {
                key = automatic
                notes.append("using the state dict under \"\(automatic)\" (choose another with --key)")
            }
            var stateDict = try StateDict(checkpoint: checkpoint, key: key)
            for prefix in options.stripPrefixes { stateDict = stateDict.strippingPrefix(prefix) }
            if let renames = ownOfficialFile?.keyRenames, !renames.isEmpty {
                stateDict = stateDict.renamed(by: try renames.map(RenameRule.init(parsing:)))
                notes.append("renamed the keys of \(weights.lastPathComponent) as torchvision's builder does when it loads them")
            }
            if !options.renames.isEmpty { stateDict = stateDict.renamed(by: options.renames) }
            let report = options.dropMismatched
                ? try model.loadStateDictDroppingMismatched(stateDict, copyWeights: options.copyWeights)
                : try model.loadStateDict(stateDict, strict: options.strict, copyWeights: options.copyWeights)
            let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
            return LoadedModel(
                model: model, report: report, notes: notes, loadMilliseconds: milliseconds,
                labels: classNames ?? checkpointLabels(checkpoint.root), verification: verification)
        } catch {
            // A damaged download is reported as such, not as the missing key its damage causes.
            try verification?.confirm()
            throw error
        }
    }

    static func checkpointLabels(_ root: CheckpointValue) -> [String]? {
        guard case .dict(let top) = root else { return nil }
        for key in ["classes", "class_names", "labels", "categories"] {
            guard case .list(let items)? = top[key] else { continue }
            let names = items.compactMap { item -> String? in
                if case .string(let name) = item { return name }
                return nil
            }
            if names.count == items.count, !names.isEmpty { return names }
        }
        return nil
    }

    /// Reads a checkpoint; a file carrying an official torchvision name must match the hash in it.
    /// The whole check waits here (`VerificationTiming.beforeReturning`).
    static func readCheckpoint(
        _ url: URL, verify: Bool = true, verifyChecksums: Bool = false, verifiedFiles: VerifiedFiles = .standard,
        notes: inout [String]
    ) throws -> Checkpoint {
        try readCheckpoint(
            url, verify: verify, timing: .beforeReturning, verifyChecksums: verifyChecksums,
            verifiedFiles: verifiedFiles, notes: &notes).checkpoint
    }

    /// Reads a checkpoint, and checks the SHA-256 of a file that carries an official torchvision
    /// name or was given `sha256`. The hash is computed on another core while the file is parsed;
    /// with `.beforeReturning` it is waited for here, with `.inBackground` the running check is
    /// returned. A parse that fails waits for the hash first: a damaged download is reported as
    /// such, not as whatever parse error the damage causes. A file verified before and unchanged
    /// since (`VerifiedFiles`) is not hashed again.
    static func readCheckpoint(
        _ url: URL, verify: Bool = true, sha256: String? = nil, timing: VerificationTiming,
        verifyChecksums: Bool = false, verifiedFiles: VerifiedFiles = .standard, notes: inout [String]
    ) throws -> (checkpoint: Checkpoint, verification: WeightsVerification?) {
        let contents = try Checkpoint.fileContents(url)
        let parse = { try Checkpoint(contents: contents, file: url.path, verifyChecksums: verifyChecksums) }
        var expectations: [WeightsVerification.Expectation] = []
        if let official = try ModelsManifest.embedded.officialWeights(fileName: url.lastPathComponent),
           let prefix = official.weights.sha256Prefix {
            if verify {
                let file = official.weights.file
                expectations.append(.init(prefix: prefix) { digest in
                    "its name is the official \(file) but its sha256 is \(digest.prefix(16))..., "
                        + "not \(prefix)...; the download is damaged or the file was renamed"
                })
            } else {
                notes.append("not checking the sha256 of \(official.weights.file) against its official hash (--no-verify)")
            }
        }
        if let sha256 {
            let expected = try Self.expectedDigest(sha256, file: url.path)
            expectations.append(.init(prefix: expected) { digest in
                "its sha256 is \(digest.prefix(16))..., not the \(expected.prefix(16))... it was given to match"
            })
        }
        guard !expectations.isEmpty else { return (try parse(), nil) }
        let path = url.standardizedFileURL.path
        if let identity = contents.identity,
           let remembered = verifiedFiles.verifiedDigest(path: path, identity: identity, prefix: ""),
           expectations.allSatisfy({ remembered.hasPrefix($0.prefix) }) {
            return (try parse(), nil)
        }
        let identity = contents.identity
        let verification = WeightsVerification(hashing: contents, file: url.path, expecting: expectations) { digest in
            if let identity { verifiedFiles.remember(.init(path: path, identity: identity, sha256: digest)) }
        }
        let checkpoint: Checkpoint
        do {
            checkpoint = try parse()
        } catch {
            try verification.confirm()
            throw error
        }
        switch timing {
        case .beforeReturning:
            try verification.confirm()
            return (checkpoint, nil)
        case .inBackground:
            return (checkpoint, verification)
        }
    }

    /// A SHA-256 given to match: hex, at least the 8 digits torchvision puts in its file names.
    static func expectedDigest(_ text: String, file: String) throws -> String {
        let digest = text.lowercased()
        guard (8...64).contains(digest.count), digest.allSatisfy(\.isHexDigit) else {
            throw CheckpointError(
                file: file, part: "", problem: .unsupported("a sha256 to match is 8 to 64 hex digits, not \"\(text)\""))
        }
        return digest
    }
}
