// What `import PthKit` brings: every stage's public API, so a user imports one module. The stages
// are targets of their own so that the compiler keeps their dependencies one-way (README, "Layout").
@_exported import PthKitCheckpoint
@_exported import PthKitModels
@_exported import PthKitRuntime
@_exported import PthKitSupport
@_exported import PthKitTraining
@_exported import PthKitVision
