import Foundation
import PthKit
import Testing

@Suite("Class names beside a checkpoint")
struct ClassNamesFileTests {
    @Test func roundTripsBesideTheWeights() throws {
        let folder = try TemporaryFolder()
        let weights = folder.file("flowers.pth")
        #expect(try ClassNamesFile.read(forWeights: weights) == nil)
        try ClassNamesFile.write(["daisy", "red rose", "tulip"], forWeights: weights)
        #expect(ClassNamesFile.url(forWeights: weights).lastPathComponent == "flowers.classes.txt")
        #expect(try ClassNamesFile.read(forWeights: weights) == ["daisy", "red rose", "tulip"])
    }

    @Test func refusesNamesThatAreNotOneLine() throws {
        let weights = FileManager.default.temporaryDirectory.appendingPathComponent("pthkit-\(UUID().uuidString).pth")
        #expect(throws: ClassNamesFileError.self) { try ClassNamesFile.write(["a\nb"], forWeights: weights) }
        #expect(throws: ClassNamesFileError.self) { try ClassNamesFile.write([""], forWeights: weights) }
    }

    @Test func anEmptyOrBinaryLabelsFileIsAnError() throws {
        let folder = try TemporaryFolder()
        let file = folder.file("labels.txt")
        try Data("\n \n".utf8).write(to: file)
        #expect(throws: ClassNamesFileError.self) { try ClassNamesFile.readLabels(file) }
        try Data([0xFF, 0xFE, 0x00, 0x80]).write(to: file)
        #expect(throws: ClassNamesFileError.self) { try ClassNamesFile.readLabels(file) }
    }
}
