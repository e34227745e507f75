import PthKitRuntime

/// `nn.MultiheadAttention(embed_dim, num_heads)` used as self-attention (`attn(x, x, x)`, the
/// query, key and value one tensor) on batch-first input [N, L, E]: keys `in_proj_weight` [3E, E],
/// `in_proj_bias` [3E] and the `out_proj` Linear. Dropout is the identity in inference.
public final class MultiheadAttention: Module, @unchecked Sendable {
    public let embedDim: Int
    public let numHeads: Int
    public let inProjWeight: Parameter
    public let inProjBias: Parameter?
    public let outProj: Linear

    public init(_ embedDim: Int, _ numHeads: Int, bias: Bool = true) throws {
        guard numHeads > 0, embedDim % numHeads == 0 else {
            throw ModelError.invalidConfiguration("embed_dim \(embedDim) must be divisible by num_heads \(numHeads)")
        }
        self.embedDim = embedDim
        self.numHeads = numHeads
        // torch's `_reset_parameters`: xavier_uniform_ in_proj (fan in E, fan out 3E), zero biases.
        let bound = Float((6.0 / Double(4 * embedDim)).squareRoot())
        inProjWeight = Parameter.randomUniform(shape: [3 * embedDim, embedDim], bound: bound)
        inProjBias = bias ? Parameter(Tensor(zeros: [3 * embedDim])) : nil
        outProj = Linear(embedDim, embedDim, bias: bias)
        outProj.bias?.value = Tensor(zeros: [embedDim])
        super.init()
        registerParameter("in_proj_weight", inProjWeight)
        if let inProjBias { registerParameter("in_proj_bias", inProjBias) }
        registerModule("out_proj", outProj)
    }

    /// Self-attention of `input` [N, L, E] with itself; torch scales the queries by 1/sqrt(head dim).
    public override func forward(_ input: Tensor) throws -> Tensor {
        let qkv = try Kernels.linear(input, weight: inProjWeight.value, bias: inProjBias?.value.storage.array)
        let headDim = embedDim / numHeads
        let attended = try Kernels.attention(packed: qkv, heads: numHeads, scale: 1 / Float(headDim).squareRoot())
        return try outProj(attended)
    }
}
