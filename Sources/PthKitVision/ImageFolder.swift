import Foundation

/// torchvision's `ImageFolder` layout: `root/<class>/<image>`, classes sorted by name, images sorted
/// within each class; the class index is the position in that sorted list.
public struct ImageFolder: Sendable {
    public let classes: [String]
    public let samples: [(url: URL, classIndex: Int)]

    static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    public init(root: URL) throws {
        let manager = FileManager.default
        let names: [String]
        do {
            names = try manager.contentsOfDirectory(atPath: root.path)
        } catch {
            throw ImageFolderError(folder: root.path, problem: "cannot be listed (\(error.localizedDescription))")
        }
        classes = names.filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".") && manager.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted()
        var samples: [(URL, Int)] = []
        for (index, name) in classes.enumerated() {
            let folder = root.appendingPathComponent(name)
            // An unreadable class folder is an error, not a class without images.
            let files: [String]
            do {
                files = try manager.contentsOfDirectory(atPath: folder.path)
            } catch {
                throw ImageFolderError(folder: folder.path, problem: "cannot be listed (\(error.localizedDescription))")
            }
            for file in files.sorted() where Self.extensions.contains((file as NSString).pathExtension.lowercased()) {
                samples.append((folder.appendingPathComponent(file), index))
            }
        }
        guard !samples.isEmpty else {
            throw ImageFolderError(folder: root.path, problem: "has no <class>/<image>.png|jpg files")
        }
        self.samples = samples
    }
}

public struct ImageFolderError: Error, CustomStringConvertible {
    public let folder: String
    public let problem: String
    public var description: String { "\(folder): \(problem)" }
}
